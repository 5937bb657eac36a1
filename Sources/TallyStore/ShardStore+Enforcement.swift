import GRDB
import TallyCore

extension ShardStore {
    /// Longest a batch waits for the live usage of the entitlements it counts toward to load.
    public static let maxEnforcementWait: Duration = .seconds(5)
    /// Pause between looks at a load another batch runs.
    static let enforcementPollInterval: Duration = .milliseconds(1)

    /// Stores a batch as `ingest` does, refusing it whole (`EnforcementRefusal`, nothing stored) when an event would
    /// count toward a metered hard-limit entitlement of a feature with `enforcement: reject` whose customer has no
    /// access at the event's minute. The writer judges the batch inside the transaction that would commit it, against
    /// live usage kept in step with every committed event (`EnforcementLedger`), so concurrent batches never both
    /// spend the same balance. Throws `StoreError.overloaded` when the plan keeps going stale for
    /// `maxEnforcementWait`.
    public func ingestEnforced(_ events: [CloudEvent]) async throws {
        let deadline = ContinuousClock.now + ShardStore.maxEnforcementWait
        while true {
            let plan = try await enforcementPlan(for: events, deadline: deadline)
            do {
                try await ingest(events, enforcement: plan)
                return
            } catch is EnforcementStale {
                guard ContinuousClock.now < deadline else { throw StoreError.overloaded }
                try await Task.sleep(for: ShardStore.enforcementPollInterval)
            }
        }
    }

    /// The enforced uses of `events` (none when no feature enforces), with the live usage of each entitlement they
    /// count toward loaded. Even a plan without uses is judged: a feature or entitlement created since makes it
    /// stale, so no event counting toward an enforced entitlement commits unjudged.
    func enforcementPlan(for events: [CloudEvent], deadline: ContinuousClock.Instant) async throws -> EnforcementPlan {
        let generation = enforcement.withLock { $0.generation }
        let features = try await enforcedFeatures()
        guard !features.isEmpty else { return EnforcementPlan(generation: generation, uses: []) }
        var uses: [EnforcedUse] = []
        var needed: [String: EntitlementState] = [:]
        for (index, event) in events.enumerated() {
            for enforced in features where enforced.meter.matches(event) {
                guard case .success(let sample) = enforced.meter.sample(event),
                    (enforced.feature.spec.meterGroupByFilters ?? [:]).allSatisfy({
                        sample.groupValues[$0.key] == $0.value
                    })
                else { continue }
                let owner = try await enforcementOwner(of: event.subject)
                guard
                    let state = try await enforcedEntitlements(of: owner).first(where: {
                        $0.entitlement.featureKey == enforced.feature.key && $0.entitlement.isActive(at: event.time)
                    })
                else { continue }
                let amount = enforced.meter.aggregation == .count ? Amount(1) : (sample.amount ?? .zero)
                uses.append(
                    EnforcedUse(
                        eventIndex: index, entitlementID: state.entitlement.id, customer: owner,
                        featureKey: enforced.feature.key, amount: amount, time: event.time))
                needed[state.entitlement.id] = state
            }
        }
        for state in needed.values.sorted(by: { $0.entitlement.id < $1.entitlement.id }) {
            try await loadLiveUsage(state, deadline: deadline)
        }
        return EnforcementPlan(generation: generation, uses: uses)
    }

    /// Live features with `enforcement: reject` on a SUM or COUNT meter.
    private func enforcedFeatures() async throws -> [EnforcementLedger.EnforcedFeature] {
        if let known = enforcement.withLock({ $0.features }) { return known }
        let generation = enforcement.withLock { $0.generation }
        let meters = meterSnapshot().meters
        let found = try await features(includeArchived: false).compactMap {
            feature -> EnforcementLedger.EnforcedFeature? in
            guard feature.spec.enforcement == .reject, let slug = feature.spec.meterSlug,
                let meter = meters.first(where: { $0.slug == slug }), [.sum, .count].contains(meter.aggregation)
            else { return nil }
            return EnforcementLedger.EnforcedFeature(feature: feature, meter: meter)
        }
        enforcement.withLock { if $0.generation == generation { $0.features = found } }
        return found
    }

    private func enforcementOwner(of subject: String) async throws -> String {
        if let known = enforcement.withLock({ $0.owners[subject] }) { return known }
        let generation = enforcement.withLock { $0.generation }
        let owner = try await owner(subjectKey: subject).key
        enforcement.withLock { ledger in
            guard ledger.generation == generation else { return }
            if ledger.owners.count >= EnforcementLedger.maxCachedOwners { ledger.owners = [:] }
            ledger.owners[subject] = owner
        }
        return owner
    }

    private func enforcedEntitlements(of owner: String) async throws -> [EntitlementState] {
        if let known = enforcement.withLock({ $0.entitlements[owner] }) { return known }
        let generation = enforcement.withLock { $0.generation }
        let states = try await entitlementStates(customer: owner).filter {
            guard let terms = $0.entitlement.meteredTerms else { return false }
            return !terms.isSoftLimit && $0.entitlement.deletedAt == nil
        }
        enforcement.withLock { ledger in
            guard ledger.generation == generation else { return }
            if ledger.entitlements.count >= EnforcementLedger.maxCachedOwners { ledger.entitlements = [:] }
            ledger.entitlements[owner] = states
        }
        return states
    }

    /// Loads the live usage of an entitlement unless it is loaded: its phases up to `base` (past every stored event
    /// of its customer and now) answered by the store while no batch can count toward it.
    private func loadLiveUsage(_ state: EntitlementState, deadline: ContinuousClock.Instant) async throws {
        let id = state.entitlement.id
        while true {
            switch enforcement.withLock({ $0.beginLoad(id) }) {
            case .ready: return
            case .wait:
                guard ContinuousClock.now < deadline else { throw StoreError.overloaded }
                try await Task.sleep(for: ShardStore.enforcementPollInterval)
            case .load(let generation):
                var usage: LiveUsage?
                defer { enforcement.withLock { $0.endLoad(id, usage: usage, generation: generation) } }
                let (balance, meter, filters) = try await meteredBalance(state)
                let latest = try await latestEventTime(owner: state.entitlement.customer)
                let base = max(Timestamp.now, Timestamp(micros: (latest ?? 0) + 1)).minuteCeiling
                let phases = try balance.phases(to: base)
                let answered = try await usages(
                    phases, meter: meter, owner: state.entitlement.customer, filters: filters)
                usage = try LiveUsage(balance: balance, base: base, usage: answered)
                return
            }
        }
    }

    /// The latest event time of the owner's subjects.
    private func latestEventTime(owner: String) async throws -> Int64? {
        try await pool.read { db in
            var latest: Int64?
            for subject in try ShardStore.usageSubjects(ownerKey: owner, db) {
                let time = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT max(time_us) FROM events INDEXED BY events_subject_time
                        WHERE subject = \(StoredText.parameter)
                        """, arguments: [StoredText.argument(subject)])
                if let time { latest = max(latest ?? time, time) }
            }
            return latest
        }
    }
}
