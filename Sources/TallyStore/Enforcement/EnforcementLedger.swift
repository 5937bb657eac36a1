import TallyCore

/// What inline enforcement keeps in memory (`ShardStore.enforcement`): the live usage of each enforced entitlement
/// in step with committed events, the changes of the write transaction in progress, and what planning looks up.
/// The writer judges each batch against it inside the transaction that would commit the batch, records the uses
/// the batch stored, and publishes them when the transaction commits; any other write to the store clears it.
struct EnforcementLedger: Sendable {
    /// Most subjects and owners planning remembers before it forgets them all.
    static let maxCachedOwners = 100_000

    /// An entitlement's live usage, with the values already judged against, by minute: each with the positive usage
    /// added since (its balance is at least the value's balance less that).
    struct Entry: Sendable {
        var usage: LiveUsage
        var judged: [Int64: (value: MeteredValue, spentSince: Amount)] = [:]
    }

    /// An entitlement of a feature that rejects usage without access, with its meter and filters.
    struct EnforcedFeature: Sendable {
        var feature: Feature
        var meter: MeterDefinition
    }

    private(set) var generation = 0
    private var entries: [String: Entry] = [:]
    /// Changes of the open write transaction: nil drops the entry (it is loaded again).
    private var pending: [String: Entry?] = [:]
    private var loading: Set<String> = []
    /// Features that enforce, nil until loaded.
    var features: [EnforcedFeature]?
    /// Subject key → owner key.
    var owners: [String: String] = [:]
    /// Owner key → its metered, hard-limit entitlements of enforcing features.
    var entitlements: [String: [EntitlementState]] = [:]

    /// Forgets everything: a write other than ingestion changed what balances depend on.
    mutating func clear() {
        generation += 1
        entries = [:]
        pending = [:]
        features = nil
        owners = [:]
        entitlements = [:]
    }

    /// What a loader of `entitlementID` does now.
    enum LoadStep {
        case ready, wait
        case load(generation: Int)
    }

    mutating func beginLoad(_ entitlementID: String) -> LoadStep {
        if entries[entitlementID] != nil, pending[entitlementID] == nil { return .ready }
        if loading.contains(entitlementID) || pending[entitlementID] != nil { return .wait }
        loading.insert(entitlementID)
        return .load(generation: generation)
    }

    /// Ends a load; the usage is kept only if nothing was cleared meanwhile.
    mutating func endLoad(_ entitlementID: String, usage: LiveUsage?, generation loaded: Int) {
        loading.remove(entitlementID)
        if let usage, loaded == generation { entries[entitlementID] = Entry(usage: usage) }
    }

    /// Judges a batch's uses in order: an event is admitted while its entitlement's balance at the event's minute
    /// (at the live usage's base when older), counting the earlier admitted events of the batch, is positive.
    /// Throws `EnforcementRefusal` with every refused use, or `EnforcementStale`.
    mutating func judge(_ plan: EnforcementPlan) throws {
        guard plan.generation == generation else { throw EnforcementStale() }
        var spent: [String: Amount] = [:]
        var admitted: [String: [EnforcedUse]] = [:]
        var refused: [EnforcedUse] = []
        for use in plan.uses {
            guard !loading.contains(use.entitlementID), var entry = current(use.entitlementID) else {
                throw EnforcementStale()
            }
            let minute = max(use.time.minuteCeiling, entry.usage.base)
            let judged: (value: MeteredValue, spentSince: Amount)
            if let known = entry.judged[minute.micros] {
                judged = known
            } else {
                guard let value = try? entry.usage.value(at: minute) else { throw EnforcementStale() }
                judged = (value, .zero)
                entry.judged[minute.micros] = judged
                store(entry, for: use.entitlementID)
            }
            let earlier = spent[use.entitlementID] ?? .zero
            var hasAccess = true
            if let used = judged.spentSince.adding(earlier), let floor = judged.value.balance.subtracting(used),
                floor > .zero
            {
                hasAccess = true
            } else {
                var usage = entry.usage
                for earlierUse in admitted[use.entitlementID] ?? [] {
                    guard usage.add(earlierUse.amount, at: earlierUse.time) else { throw EnforcementStale() }
                }
                guard let value = try? usage.value(at: minute) else { throw EnforcementStale() }
                hasAccess = value.hasAccess
            }
            if hasAccess {
                spent[use.entitlementID] = earlier.adding(max(use.amount, .zero)) ?? earlier
                admitted[use.entitlementID, default: []].append(use)
            } else {
                refused.append(use)
            }
        }
        guard refused.isEmpty else { throw EnforcementRefusal(refused: refused) }
    }

    /// Adds the uses whose events the open transaction stored.
    mutating func record(_ uses: [EnforcedUse]) {
        for use in uses {
            guard var entry = current(use.entitlementID) else { continue }
            guard entry.usage.add(use.amount, at: use.time) else {
                pending[use.entitlementID] = .some(nil)
                continue
            }
            for (minute, judged) in entry.judged where use.time.micros < minute {
                entry.judged[minute] = (
                    judged.value, judged.spentSince.adding(max(use.amount, .zero)) ?? judged.spentSince
                )
            }
            if entry.usage.isFull {
                pending[use.entitlementID] = .some(nil)
            } else {
                pending[use.entitlementID] = entry
            }
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
