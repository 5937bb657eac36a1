import GRDB
import TallyCore

extension ShardStore {
    /// The value of a metered entitlement at `instant` (a whole minute), over this shard's exact usage.
    public func meteredValue(_ state: EntitlementState, at instant: Timestamp) async throws -> MeteredValue {
        let (balance, meter, filters) = try await meteredBalance(state)
        let phases = try balance.phases(to: instant)
        let usage = try await usages(phases, meter: meter, owner: state.entitlement.customer, filters: filters)
        return try balance.value(at: instant, usage: usage)
    }

    /// The state right after a manual reset at `instant`, to persist with `addReset`.
    public func snapshotAfterReset(
        _ state: EntitlementState, at instant: Timestamp, preserveOverage: Bool
    )
        async throws -> BalanceSnapshot
    {
        let (balance, meter, filters) = try await meteredBalance(state)
        let usage = try await usages(
            try balance.resetPhases(at: instant), meter: meter, owner: state.entitlement.customer, filters: filters)
        return try balance.snapshotAfterReset(at: instant, preserveOverage: preserveOverage, usage: usage)
    }

    func meteredBalance(
        _ state: EntitlementState
    ) async throws -> (
        MeteredBalance, MeterDefinition, [String: String]
    ) {
        let entitlement = state.entitlement
        guard let terms = entitlement.meteredTerms, let usagePeriod = entitlement.usagePeriod,
            let feature = try await feature(idOrKey: entitlement.featureID, includeArchived: true),
            let slug = feature.spec.meterSlug
        else { throw EntitlementStoreError.invalid(field: "entitlement", reason: "is not metered") }
        guard let meter = meter(idOrSlug: slug) else { throw EntitlementStoreError.meterNotFound(slug) }
        let balance = MeteredBalance(
            measureUsageFrom: terms.measureUsageFrom, usagePeriod: usagePeriod,
            preserveOverageAtReset: terms.preserveOverageAtReset, isSoftLimit: terms.isSoftLimit,
            resets: state.resets, grants: state.grants.map(\.grant), grantsAreLimits: meter.aggregation == .latest)
        return (balance, meter, feature.spec.meterGroupByFilters ?? [:])
    }

    /// The usage of the entitlement owner `owner` (the subject keys its customer attributes, or the key itself) in
    /// each phase: the meter's aggregate over the phase, except UNIQUE_COUNT (the growth of the period's distinct
    /// count) and LATEST (the latest value since the period started).
    func usages(
        _ phases: [UsagePhase], meter: MeterDefinition, owner: String, filters: [String: String]
    )
        async throws -> PhaseUsages
    {
        var amounts: [UsagePhase: Amount] = [:]
        let (subjects, span) = try await pool.read { db -> ([String], (first: Int64?, last: Int64?)) in
            let subjects = try ShardStore.usageSubjects(ownerKey: owner, db)
            var first: Int64?
            var last: Int64?
            for subject in subjects {
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT min(time_us), max(time_us) FROM events INDEXED BY events_subject_time
                        WHERE subject = \(StoredText.parameter)
                        """, arguments: [StoredText.argument(subject)])
                if let low: Int64 = row?[0] { first = min(first ?? low, low) }
                if let high: Int64 = row?[1] { last = max(last ?? high, high) }
            }
            return (subjects, (first, last))
        }
        guard let first = span.first, let last = span.last else { return PhaseUsages([:]) }
        for phase in phases {
            // Phases outside the customer's first and last event hold no usage: no query (a value far in the
            // future crosses many empty periods).
            let reach = meter.aggregation == .latest ? phase.periodStart : phase.period.from
            if reach.micros > last || phase.period.to.micros <= first { continue }
            switch meter.aggregation {
            case .uniqueCount:
                let through = try await total(meter, subjects, filters, phase.periodStart, phase.period.to)
                let before = try await total(meter, subjects, filters, phase.periodStart, phase.period.from)
                amounts[phase] = Amount(units: through.units - before.units)
            case .latest:
                amounts[phase] = try await total(meter, subjects, filters, phase.periodStart, phase.period.to)
            default:
                amounts[phase] = try await total(meter, subjects, filters, phase.period.from, phase.period.to)
            }
        }
        return PhaseUsages(amounts)
    }

    private func total(
        _ meter: MeterDefinition, _ subjects: [String], _ filters: [String: String], _ from: Timestamp,
        _ to: Timestamp
    ) async throws -> Amount {
        guard from < to else { return .zero }
        let query = MeterQuery(
            from: from, to: to, subjects: subjects, filterGroupBy: filters.mapValues { [$0] })
        let calendar: WindowCalendar
        switch query.validate(for: meter) {
        case .success(let valid): calendar = valid
        case .failure(let failure):
            let first = failure.errors.first
            throw EntitlementStoreError.invalid(
                field: "meterGroupByFilters", reason: first.map { "\($0.field) \($0.reason)" } ?? "invalid")
        }
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        try await accumulate(meter: meter, query: query, calendar: calendar, into: &accumulator)
        // Merged across the customer's subjects (a query with subjects has a row per subject).
        return try accumulator.mergedValue() ?? .zero
    }
}

extension ShardStore {
    /// The balance history of a metered entitlement over `[from, to)` in `windows`.
    public func balanceHistory(
        _ state: EntitlementState, from: Timestamp, to: Timestamp, windows: [TimePeriod]
    ) async throws -> BalanceHistory {
        let (balance, meter, filters) = try await meteredBalance(state)
        let phases = try balance.historyPhases(from: from, to: to, windows: windows)
        let usage = try await usages(phases, meter: meter, owner: state.entitlement.customer, filters: filters)
        return try balance.history(from: from, to: to, windows: windows, usage: usage)
    }
}
