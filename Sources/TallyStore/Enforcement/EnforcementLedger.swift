import TallyCore

/// What inline enforcement keeps in memory (`ShardStore.enforcement`): the live usage of each enforced entitlement
/// in step with committed events, the changes of the write transaction in progress, and what planning looks up.
/// The writer judges each batch against it inside the transaction that would commit the batch, records the uses
/// the batch stored, and publishes them when the transaction commits; a write that changes what balances depend on
/// clears it.
struct EnforcementLedger: Sendable {
    /// Most subjects and owners planning remembers before it forgets them all.
    static let maxCachedOwners = 100_000
    /// Most entitlements with live usage; beyond, all are forgotten (and loaded again when used).
    static let maxLiveEntitlements = 100_000
    /// Most judged minutes remembered per entitlement; beyond, they are forgotten.
    static let maxJudgedMinutes = 16

    /// An entitlement's live usage, with the values already judged against, by minute: each with the positive usage
    /// added since (its balance is at least the value's balance less that).
    struct Entry: Sendable {
        var usage: LiveUsage
        var judged: [Int64: (value: MeteredValue, spentSince: Amount)] = [:]
    }

    /// A feature that rejects usage without access, with its meter.
    struct EnforcedFeature: Sendable {
        var feature: Feature
        var meter: MeterDefinition
    }

    /// An owner's subject keys and its metered, hard-limit, undeleted entitlements.
    struct Owner: Sendable {
        var key: String
        var subjectKeys: [String]
        var entitlements: [EntitlementState]
    }

    /// An entitlement at one judged minute.
    struct MinuteKey: Hashable, Sendable {
        var entitlementID: String
        var minute: Int64
    }

    private(set) var generation = 0
    private var entries: [String: Entry] = [:]
    /// Changes of the open write transaction: nil drops the entry (it is loaded again).
    private var pending: [String: Entry?] = [:]
    private var loading: Set<String> = []
    /// Features that enforce, nil until loaded.
    var features: [EnforcedFeature]?
    /// Subject key (by bytes) → its owner.
    var owners: [Identifier: Owner] = [:]

    /// Forgets everything: a write changed what balances depend on.
    mutating func clear() {
        generation += 1
        entries = [:]
        pending = [:]
        features = nil
        owners = [:]
    }

    /// What a loader of `entitlementID` for a plan of `planned` does now.
    enum LoadStep { case ready, wait, stale, load }

    mutating func beginLoad(_ entitlementID: String, planned: Int) -> LoadStep {
        guard planned == generation else { return .stale }
        if current(entitlementID) != nil { return .ready }
        if loading.contains(entitlementID) || pending[entitlementID] != nil { return .wait }
        loading.insert(entitlementID)
        return .load
    }

    /// Ends a load; the usage is kept only if nothing was cleared since the plan that asked for it.
    mutating func endLoad(_ entitlementID: String, usage: LiveUsage?, planned: Int) {
        loading.remove(entitlementID)
        guard let usage, planned == generation else { return }
        if entries.count >= Self.maxLiveEntitlements { entries = [:] }
        entries[entitlementID] = Entry(usage: usage)
    }

    /// Judges a batch's uses in order: an event is admitted while its entitlement's balance at the end of the event's
    /// minute (at the live usage's base when older), counting the earlier admitted events of the batch, is positive.
    /// Throws `EnforcementRefusal` with every refused use, `BalanceError` when a balance cannot be computed, or
    /// `EnforcementStale`.
    mutating func judge(_ plan: EnforcementPlan) throws {
        guard plan.generation == generation else { throw EnforcementStale() }
        var spent: [String: Amount] = [:]
        var admitted: [String: LiveUsage] = [:]
        var refusedAt = Set<MinuteKey>()
        var refused: [EnforcedUse] = []
        for use in plan.uses where use.judged {
            if use.aheadOfClock {
                refused.append(use)
                continue
            }
            guard !loading.contains(use.entitlementID), var entry = current(use.entitlementID) else {
                throw EnforcementStale()
            }
            // The end of the event's minute: every event of that minute, this one's earlier neighbours included.
            let minute = max(Timestamp(micros: use.time.minuteFloor.micros + 60_000_000), entry.usage.base)
            let memo = MinuteKey(entitlementID: use.entitlementID, minute: minute.micros)
            if refusedAt.contains(memo) {
                // Refused uses change nothing: the balance at this minute is still what refused the last one.
                refused.append(use)
                continue
            }
            let judged: (value: MeteredValue, spentSince: Amount)
            if let known = entry.judged[minute.micros] {
                judged = known
            } else {
                guard let value = try entry.usage.value(at: minute) else { throw EnforcementStale() }
                judged = (value, .zero)
                if entry.judged.count >= Self.maxJudgedMinutes { entry.judged = [:] }
                entry.judged[minute.micros] = judged
                store(entry, for: use.entitlementID)
            }
            let earlier = spent[use.entitlementID] ?? .zero
            var hasAccess: Bool
            if let used = judged.spentSince.adding(earlier), let floor = judged.value.balance.subtracting(used),
                floor > .zero
            {
                hasAccess = true
            } else {
                let usage = admitted[use.entitlementID] ?? entry.usage
                hasAccess = try usage.value(at: minute)?.hasAccess ?? false
            }
            if hasAccess {
                // Added in place: the batch's copy of the live usage is made once, at its first admitted use.
                guard admitted[use.entitlementID, default: entry.usage].add(use.amount, at: use.time, bounded: false)
                else { throw BalanceError.overflow }
                spent[use.entitlementID] = earlier.adding(max(use.amount, .zero)) ?? earlier
            } else {
                refusedAt.insert(memo)
                refused.append(use)
            }
        }
        guard refused.isEmpty else { throw EnforcementRefusal(refused: refused) }
    }

    /// Adds the uses whose events the open transaction stored (judged or not) to the entitlements that have live
    /// usage.
    mutating func record(_ uses: [EnforcedUse]) {
        for use in uses {
            // Taken out of `pending` while it changes, so its storage is changed in place (copied from `entries`
            // once per transaction).
            var entry: Entry
            if let changed = pending.removeValue(forKey: use.entitlementID) {
                guard let live = changed else {
                    pending[use.entitlementID] = .some(nil)
                    continue
                }
                entry = live
            } else if let live = entries[use.entitlementID] {
                entry = live
            } else {
                continue
            }
            guard entry.usage.add(use.amount, at: use.time) else {
                pending[use.entitlementID] = .some(nil)
                continue
            }
            for (minute, judged) in entry.judged where use.time.micros < minute {
                let spent = judged.spentSince.adding(max(use.amount, .zero)) ?? judged.spentSince
                entry.judged[minute] = (judged.value, spent)
            }
            pending[use.entitlementID] = entry.usage.isFull ? .some(nil) : entry
        }
    }

    /// The open transaction committed: its changes become the ledger's.
    mutating func commitPending() {
        for (id, entry) in pending { entries[id] = entry }
        pending = [:]
    }

    /// The open transaction failed: its changes are forgotten.
    mutating func dropPending() { pending = [:] }

    private func current(_ id: String) -> Entry? {
        if let changed = pending[id] { return changed }
        return entries[id]
    }

    private mutating func store(_ entry: Entry, for id: String) {
        if pending[id] != nil { pending[id] = entry } else { entries[id] = entry }
    }
}
