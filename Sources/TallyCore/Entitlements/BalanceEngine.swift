/// Where the engine reads usage: the meter's aggregate over one phase `[from, to)` of the usage period that started
/// at `periodStart` (UNIQUE_COUNT answers the growth of the period's distinct count, LATEST the latest value since
/// the period started). A store answers the phases of `BalanceEngine.phases` first, then the engine runs over them.
public protocol UsageSource {
    func usage(in phase: UsagePhase) -> Amount
}

/// One stretch of usage the engine asks for.
public struct UsagePhase: Sendable, Hashable {
    public var period: TimePeriod
    public var periodStart: Timestamp

    public init(period: TimePeriod, periodStart: Timestamp) {
        self.period = period
        self.periodStart = periodStart
    }
}

/// Usage answered ahead of a run, phase by phase (a phase not answered counts zero).
public struct PhaseUsages: UsageSource, Sendable {
    public var amounts: [UsagePhase: Amount]
    public init(_ amounts: [UsagePhase: Amount]) { self.amounts = amounts }
    public func usage(in phase: UsagePhase) -> Amount { amounts[phase] ?? .zero }
}

/// OpenMeter's grant burn-down (docs/api.md, "Entitlements"), as a pure function of the grants, a starting snapshot,
/// the resets and the usage. Every instant is a whole minute; periods and phases are half-open.
public struct BalanceEngine: Sendable {
    /// Most phases (stretches between resets, grant changes and recurrences) one calculation may cross.
    public static let maxPhasesPerCalculation = 20_000

    public var grants: [Grant]
    /// Grants act as limits (LATEST meters): every phase starts from each grant's whole amount.
    public var grantsAreLimits: Bool
    public var recordsSegments: Bool

    public init(grants: [Grant], grantsAreLimits: Bool = false, recordsSegments: Bool = false) {
        self.grants = grants.sorted(by: Grant.burnsBefore)
        self.grantsAreLimits = grantsAreLimits
        self.recordsSegments = recordsSegments
    }

    /// The result of a calculation: the state at its end and, when recorded, the burn-down segments.
    public struct Run: Sendable {
        public var snapshot: BalanceSnapshot
        public var segments: [BurndownSegment]
    }

    /// The phases a run from `start` to `end` asks usage for, in order.
    public func phases(
        from start: Timestamp, to end: Timestamp, resets: [ResetPoint], extraCuts: [Timestamp] = []
    ) throws(BalanceError) -> [UsagePhase] {
        var result: [UsagePhase] = []
        var phases = 0
        var periodStart = start
        let bounds = resets.filter { $0.at > start && $0.at <= end }.map(\.at) + [end]
        for periodEnd in bounds {
            var phaseStart = periodStart
            let cuts = try phaseCuts(after: periodStart, before: periodEnd, extra: extraCuts, counted: &phases)
            for phaseEnd in cuts + [periodEnd]
            where phaseEnd > phaseStart {
                result.append(UsagePhase(period: TimePeriod(from: phaseStart, to: phaseEnd), periodStart: periodStart))
                phaseStart = phaseEnd
            }
            periodStart = periodEnd
        }
        return result
    }

    /// Burns the usage of `(start.at, end]` from the grants, resetting the period at each of `resets` (sorted,
    /// inside `(start.at, end]`). A reset at `end` leaves the state right after it.
    public func run(
        from start: BalanceSnapshot, to end: Timestamp, resets: [ResetPoint], usage: some UsageSource,
        extraCuts: [Timestamp] = []
    ) throws(BalanceError) -> Run {
        var state = start
        var segments: [BurndownSegment] = []
        var phases = 0
        var periodStart = start.at
        let bounds = resets.filter { $0.at > start.at && $0.at <= end }
        for index in 0...bounds.count {
            let periodEnd = index < bounds.count ? bounds[index].at : end
            let cuts = try phaseCuts(after: periodStart, before: periodEnd, extra: extraCuts, counted: &phases)
            var phaseStart = periodStart
            for phaseEnd in cuts + [periodEnd] where phaseEnd > phaseStart {
                if phaseStart > periodStart || index == 0 { enter(phaseStart, state: &state) }
                try burn(
                    TimePeriod(from: phaseStart, to: phaseEnd), periodStart: periodStart, state: &state,
                    usage: usage, segments: &segments)
                phaseStart = phaseEnd
            }
            if index < bounds.count {
                try reset(bounds[index], state: &state, segments: &segments)
                periodStart = bounds[index].at
            } else {
                enter(periodEnd, state: &state)
            }
        }
        state.at = end
        return Run(snapshot: state, segments: segments)
    }

    /// Instants strictly inside `(from, to)` where the burn order changes or a grant recurs, and the `extra` ones
    /// (a cut where nothing changes splits a phase without changing what it burns).
    private func phaseCuts(
        after from: Timestamp, before to: Timestamp, extra: [Timestamp], counted phases: inout Int
    ) throws(BalanceError) -> [Timestamp] {
        guard to > from else { return [] }
        var cuts = Set(extra.filter { $0 > from && $0 < to })
        let limit = BalanceEngine.maxPhasesPerCalculation
        for grant in grants {
            for instant in [grant.effectiveAt, grant.end].compactMap(\.self) where instant > from && instant < to {
                cuts.insert(instant)
            }
            guard let recurrence = grant.recurrence else { continue }
            let activeFrom = max(from, grant.effectiveAt)
            let activeTo = min(to, grant.end ?? to)
            guard activeFrom < activeTo else { continue }
            guard let times = recurrence.times(from: activeFrom, through: activeTo, limit: limit - phases) else {
                throw .tooManyPhases(limit: limit)
            }
            for instant in times where instant > from && instant < to { cuts.insert(instant) }
        }
        phases += cuts.count + 1
        guard phases <= limit else { throw .tooManyPhases(limit: limit) }
        return cuts.sorted()
    }

    /// The changes at the start of a phase: grants that stopped lose their balance, grants that start or recur
    /// get their whole amount. At the instant the state was taken (the start or the last reset) only grants the
    /// state does not know yet start (a grant made after a reset, effective at it).
    private func enter(_ instant: Timestamp, state: inout BalanceSnapshot) {
        for grant in grants {
            guard grant.isActive(at: instant) else {
                state.balances[grant.id] = nil
                continue
            }
            if instant == state.at {
                if state.balances[grant.id] == nil { state.balances[grant.id] = grant.amount }
            } else if grant.effectiveAt == instant || grant.recurrence.map({ recursAt(instant, $0) }) == true {
                state.balances[grant.id] = grant.amount
            }
        }
    }

    private func recursAt(_ instant: Timestamp, _ recurrence: Recurrence) -> Bool {
        recurrence.step(containing: instant).flatMap { recurrence.time($0) } == instant
    }

    private func burn(
        _ phase: TimePeriod, periodStart: Timestamp, state: inout BalanceSnapshot, usage source: some UsageSource,
        segments: inout [BurndownSegment]
    ) throws(BalanceError) {
        let used = source.usage(in: UsagePhase(period: phase, periodStart: periodStart))
        if grantsAreLimits {
            for grant in grants where state.balances[grant.id] != nil { state.balances[grant.id] = grant.amount }
            state.overage = .zero
            state.totalGrantUsage = .zero
        }
        let before = state.balances
        guard var remaining = used.adding(state.overage) else { throw .overflow }
        remaining = max(remaining, .zero)
        var grantUsages: [GrantID: Amount] = [:]
        for grant in grants where remaining > .zero {
            guard let balance = state.balances[grant.id], balance > .zero else { continue }
            let take = min(balance, remaining)
            state.balances[grant.id] = Amount(units: balance.units - take.units)
            remaining = Amount(units: remaining.units - take.units)
            grantUsages[grant.id] = take
            guard let total = state.totalGrantUsage.adding(take) else { throw .overflow }
            state.totalGrantUsage = total
        }
        state.overage = remaining
        if grantsAreLimits {
            state.usage = used
        } else {
            guard let total = state.usage.adding(used) else { throw .overflow }
            state.usage = total
        }
        if recordsSegments {
            segments.append(
                BurndownSegment(
                    period: phase, usage: used, overage: state.overage, balanceAtStart: Self.sum(before),
                    balanceAtEnd: state.balance, grantBalancesAtStart: before, grantBalancesAtEnd: state.balances,
                    grantUsages: grantUsages))
        }
    }

    /// A reset at `point.at`: grants still active keep their balance clamped to their rollover bounds, grants that
    /// start or recur there get their whole amount, then the carried overage (when preserved) burns from them.
    private func reset(
        _ point: ResetPoint, state: inout BalanceSnapshot, segments: inout [BurndownSegment]
    )
        throws(BalanceError)
    {
        let before = state.balances
        if let stored = point.state {
            state = stored
            if recordsSegments {
                segments.append(
                    BurndownSegment(
                        period: TimePeriod(from: point.at, to: point.at), usage: .zero, overage: stored.overage,
                        balanceAtStart: Self.sum(before), balanceAtEnd: stored.balance, grantBalancesAtStart: before,
                        grantBalancesAtEnd: stored.balances, grantUsages: [:]))
            }
            return
        }
        var balances: [GrantID: Amount] = [:]
        for grant in grants where grant.isActive(at: point.at) {
            let recurs = grant.recurrence.map { recursAt(point.at, $0) } ?? false
            if grant.effectiveAt == point.at || recurs {
                balances[grant.id] = grant.amount
            } else if let balance = state.balances[grant.id] {
                balances[grant.id] = grant.rolledOver(balance)
            }
        }
        var remaining = point.preserveOverage ? state.overage : .zero
        var totalGrantUsage = Amount.zero
        var grantUsages: [GrantID: Amount] = [:]
        for grant in grants where remaining > .zero {
            guard let balance = balances[grant.id], balance > .zero else { continue }
            let take = min(balance, remaining)
            balances[grant.id] = Amount(units: balance.units - take.units)
            remaining = Amount(units: remaining.units - take.units)
            grantUsages[grant.id] = take
            totalGrantUsage = Amount(units: totalGrantUsage.units + take.units)
        }
        state = BalanceSnapshot(
            at: point.at, balances: balances, overage: remaining, usage: .zero, totalGrantUsage: totalGrantUsage)
        if recordsSegments {
            segments.append(
                BurndownSegment(
                    period: TimePeriod(from: point.at, to: point.at), usage: .zero, overage: remaining,
                    balanceAtStart: Self.sum(before), balanceAtEnd: state.balance, grantBalancesAtStart: before,
                    grantBalancesAtEnd: balances, grantUsages: grantUsages))
        }
    }

    static func sum(_ balances: [GrantID: Amount]) -> Amount {
        balances.values.reduce(Amount.zero) { Amount(units: $0.units + $1.units) }
    }
}
