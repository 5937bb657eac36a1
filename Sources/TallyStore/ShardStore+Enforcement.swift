import GRDB
import TallyCore

extension ShardStore {
    /// Longest a batch waits for the live usage of the entitlements it counts toward to load, or for the entitlements
    /// to stop changing.
    public static let maxEnforcementWait: Duration = .seconds(30)
    /// How far ahead of the node's clock an event judged by enforcement may be dated.
    public static let maxEnforcedLeadMinutes: Int64 = 5
    /// Live usage loads one batch's plan runs at once.
    static let maxConcurrentLiveLoads = 8
    /// Pause between looks at a load another batch runs.
    static let enforcementPollInterval: Duration = .milliseconds(1)

    /// Stores a batch as `ingest` does, refusing it whole (`EnforcementRefusal`, nothing stored) when an event would
    /// count toward a metered hard-limit entitlement of a feature with `enforcement: reject` whose customer has no
    /// access at the end of the event's minute. The writer judges the batch inside the transaction that would commit
    /// it, against live usage kept in step with every committed event (`EnforcementLedger`), so concurrent batches
    /// never both spend the same balance. Throws `StoreError.overloaded` when the plan keeps going stale for
    /// `maxEnforcementWait`.
    public func ingestEnforced(_ events: [CloudEvent], admit: (@Sendable () throws -> Void)? = nil) async throws {
        let deadline = ContinuousClock.now + ShardStore.maxEnforcementWait
        while true {
            do {
                let plan = try await enforcementPlan(for: events, deadline: deadline)
                try await ingest(events, admit: admit, enforcement: plan)
                return
            } catch is EnforcementStale {
                guard ContinuousClock.now < deadline else { throw StoreError.overloaded }
                try await Task.sleep(for: ShardStore.enforcementPollInterval)
            }
        }
    }

    /// Judges `events` as `ingestEnforced` would, against the balances committed so far, and stores nothing: throws
    /// `EnforcementRefusal` naming the events it would refuse. A cluster checks every owner's part of a batch this
    /// way before it commits any, so a batch refused by one owner is stored by none.
    public func checkEnforcement(_ events: [CloudEvent]) async throws {
        let deadline = ContinuousClock.now + ShardStore.maxEnforcementWait
        while true {
            do {
                let plan = try await enforcementPlan(for: events, deadline: deadline)
                try enforcement.withLock { try $0.judge(plan) }
                return
            } catch is EnforcementStale {
                guard ContinuousClock.now < deadline else { throw StoreError.overloaded }
                try await Task.sleep(for: ShardStore.enforcementPollInterval)
            }
        }
    }

    /// The enforced uses of `events` (none when no feature enforces), with the live usage of each entitlement they
    /// are judged by loaded. Even a plan without uses is judged: a feature or entitlement created since makes it
    /// stale, so no event counting toward an enforced entitlement commits unjudged.
    func enforcementPlan(for events: [CloudEvent], deadline: ContinuousClock.Instant) async throws -> EnforcementPlan {
        let generation = enforcement.withLock { $0.generation }
        let features = try await enforcedFeatures()
        guard !features.isEmpty else { return EnforcementPlan(generation: generation, uses: []) }
        let latestJudged = Timestamp(micros: Timestamp.now.micros + ShardStore.maxEnforcedLeadMinutes * 60_000_000)
        var uses: [EnforcedUse] = []
        var needed: [String: EntitlementState] = [:]
        var owners: [Identifier: EnforcementLedger.Owner] = [:]
        for (index, event) in events.enumerated() {
            // Subjects with control characters never belong to a customer (keys cannot hold them).
            guard InputLimits.isValidKey(event.subject) else { continue }
            var owner: EnforcementLedger.Owner?
            for enforced in features where enforced.meter.matches(event) {
                guard case .success(let sample) = enforced.meter.sample(event),
                    (enforced.feature.spec.meterGroupByFilters ?? [:]).allSatisfy({ filter in
                        (sample.groupValues[filter.key] ?? nil)?.bytesEqual(filter.value) == true
                    })
                else { continue }
                if owner == nil {
                    let key = Identifier(event.subject)
                    if let cached = owners[key] {
                        owner = cached
                    } else {
                        let fetched = try await enforcementOwner(of: event.subject)
                        owners[key] = fetched
                        owner = fetched
                    }
                }
                guard let owner, owner.subjectKeys.contains(where: { $0.bytesEqual(event.subject) }) else { continue }
                let amount = enforced.meter.aggregation == .count ? Amount(1) : (sample.amount ?? .zero)
                for state in owner.entitlements where state.entitlement.featureID == enforced.feature.id {
                    guard let terms = state.entitlement.meteredTerms, event.time >= terms.measureUsageFrom else {
                        continue
                    }
                    let judged = state.entitlement.isActive(at: event.time)
                    uses.append(
                        EnforcedUse(
                            eventIndex: index, entitlementID: state.entitlement.id, customer: owner.key,
                            featureKey: enforced.feature.key, amount: amount, time: event.time, judged: judged,
                            aheadOfClock: judged && event.time > latestJudged))
                    if judged { needed[state.entitlement.id] = state }
                }
            }
        }
        // Loads run `maxConcurrentLiveLoads` at a time: a batch's first events after a start or a change load many.
        var missing = needed.values.sorted(by: { $0.entitlement.id < $1.entitlement.id })[...]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<ShardStore.maxConcurrentLiveLoads {
                guard let state = missing.popFirst() else { break }
                group.addTask { try await self.loadLiveUsage(state, planned: generation, deadline: deadline) }
            }
            while try await group.next() != nil {
                guard let state = missing.popFirst() else { continue }
                group.addTask { try await self.loadLiveUsage(state, planned: generation, deadline: deadline) }
            }
        }
        return EnforcementPlan(generation: generation, uses: uses)
    }

    /// Features (archived ones too: their entitlements keep working) with `enforcement: reject` on a SUM or COUNT
    /// meter.
    private func enforcedFeatures() async throws -> [EnforcementLedger.EnforcedFeature] {
        if let known = enforcement.withLock({ $0.features }) { return known }
        let generation = enforcement.withLock { $0.generation }
        let meters = meterSnapshot().meters
        let found = try await features(includeArchived: true).compactMap {
            feature -> EnforcementLedger.EnforcedFeature? in
            guard feature.spec.enforcement == .reject, let slug = feature.spec.meterSlug,
                let meter = meters.first(where: { $0.slug == slug }), [.sum, .count].contains(meter.aggregation)
            else { return nil }
            return EnforcementLedger.EnforcedFeature(feature: feature, meter: meter)
        }
        enforcement.withLock { if $0.generation == generation { $0.features = found } }
        return found
    }

    /// The owner of a subject key, its subject keys and its metered, hard-limit, undeleted entitlements.
    private func enforcementOwner(of subject: String) async throws -> EnforcementLedger.Owner {
        let key = Identifier(subject)
        if let known = enforcement.withLock({ $0.owners[key] }) { return known }
        let generation = enforcement.withLock { $0.generation }
        let resolved = try await owner(subjectKey: subject)
        let states = try await entitlementStates(customer: resolved.key).filter {
            guard let terms = $0.entitlement.meteredTerms else { return false }
            return !terms.isSoftLimit && $0.entitlement.deletedAt == nil
        }
        let owner = EnforcementLedger.Owner(key: resolved.key, subjectKeys: resolved.subjectKeys, entitlements: states)
        enforcement.withLock { ledger in
            guard ledger.generation == generation else { return }
            if ledger.owners.count >= EnforcementLedger.maxCachedOwners { ledger.owners = [:] }
            ledger.owners[key] = owner
        }
        return owner
    }

    /// Loads the live usage of an entitlement unless it is loaded: its phases up to `base` (past now and every stored
    /// event of the meter's type of its customer) answered by the store while no batch can count toward it.
    private func loadLiveUsage(
        _ state: EntitlementState, planned: Int, deadline: ContinuousClock.Instant
    ) async throws {
        let id = state.entitlement.id
        while true {
            switch enforcement.withLock({ $0.beginLoad(id, planned: planned) }) {
            case .ready: return
            case .stale: throw EnforcementStale()
            case .wait:
                guard ContinuousClock.now < deadline else { throw StoreError.overloaded }
                try await Task.sleep(for: ShardStore.enforcementPollInterval)
            case .load:
                var usage: LiveUsage?
                defer { enforcement.withLock { $0.endLoad(id, usage: usage, planned: planned) } }
                let (balance, meter, filters) = try await meteredBalance(state)
                let latest = try await latestEventTime(owner: state.entitlement.customer, type: meter.eventType)
                let base = max(Timestamp.now, Timestamp(micros: (latest ?? 0) + 1)).minuteCeiling
                let phases = try balance.phases(to: base)
                let answered = try await usages(
                    phases, meter: meter, owner: state.entitlement.customer, filters: filters)
                usage = try LiveUsage(balance: balance, base: base, usage: answered)
                return
            }
        }
    }

    /// The latest time of an event of `type` of the owner's subjects.
    private func latestEventTime(owner: String, type: String) async throws -> Int64? {
        try await pool.read { db in
            var latest: Int64?
            for subject in try ShardStore.usageSubjects(ownerKey: owner, db) {
                let time = try Int64.fetchOne(
                    db,
                    sql: """
                        SELECT time_us FROM events INDEXED BY events_subject_time
                        WHERE subject = \(StoredText.parameter) AND type = ? ORDER BY time_us DESC LIMIT 1
                        """, arguments: [StoredText.argument(subject), type])
                if let time { latest = max(latest ?? time, time) }
            }
            return latest
        }
    }
}
