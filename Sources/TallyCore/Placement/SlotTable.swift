/// Which worker owns each slot, and which workers keep replicas of it, at one epoch. A subject lives in slot
/// `XXH64(subject) mod slotCount` (seed 0, UTF-8 bytes); the epoch grows by one with every change of the table. The
/// owner (primary) answers queries; every holder (owner and replicas) commits each write of the slot.
public struct SlotTable: Sendable, Hashable {
    /// Default number of slots of a new cluster; fixed for the cluster's life.
    public static let defaultSlotCount = 1024
    /// Most slots a cluster may have: slot lists travel in headers (a move's list of half the slots stays under
    /// the 80 KB a worker reads of a request's or response's head) and slot tables in every assignment.
    public static let maxSlotCount = 16_384

    public var epoch: Int64
    /// Owner of each slot, indexed by slot.
    public var owners: [String]
    /// The replicas of each slot, indexed by slot, in promotion order; empty without replication.
    public var replicas: [[String]]

    /// A table; `replicas` is either empty (no slot has a replica) or has one list per slot.
    public init(epoch: Int64, owners: [String], replicas: [[String]] = []) {
        self.epoch = epoch
        self.owners = owners
        self.replicas = replicas.isEmpty ? Array(repeating: [], count: owners.count) : replicas
    }

    /// The replicas of `slot`.
    public func replicas(ofSlot slot: Int) -> [String] { replicas[slot] }

    /// Every worker holding `slot`: its owner first, then its replicas.
    public func holders(ofSlot slot: Int) -> [String] { [owners[slot]] + replicas[slot] }

    /// What `worker` is for `slot`, if it holds it.
    public func role(of worker: String, slot: Int) -> SlotRole? {
        if owners[slot] == worker { return .primary }
        return replicas[slot].contains(worker) ? .replica : nil
    }

    /// The slots `worker` keeps a replica of, ascending.
    public func slots(replicatedBy worker: String) -> [Int] {
        replicas.indices.filter { replicas[$0].contains(worker) }
    }

    /// The fewest copies any slot has (1 without replication).
    public var minimumCopies: Int { 1 + (replicas.map(\.count).min() ?? 0) }

    /// Replicas held by each worker.
    public var replicaCounts: [String: Int] {
        replicas.joined().reduce(into: [:]) { counts, holder in counts[holder, default: 0] += 1 }
    }

    public var slotCount: Int { owners.count }

    /// The slot of `subject` in a cluster of `slotCount` slots.
    public static func slot(of subject: String, slotCount: Int) -> Int {
        Int(XXHash64.hash(subject) % UInt64(slotCount))
    }

    public func slot(of subject: String) -> Int { SlotTable.slot(of: subject, slotCount: slotCount) }

    /// The worker owning `subject`.
    public func owner(of subject: String) -> String { owners[slot(of: subject)] }

    /// The slots `worker` owns, ascending.
    public func slots(ownedBy worker: String) -> [Int] {
        owners.indices.filter { owners[$0] == worker }
    }

    /// Slots held by each worker.
    public var slotCounts: [String: Int] {
        owners.reduce(into: [:]) { counts, owner in counts[owner, default: 0] += 1 }
    }

    /// Workers that own at least one slot, sorted.
    public var workers: [String] { Set(owners).sorted() }

    /// Workers that hold at least one slot (as owner or replica), sorted.
    public var holders: [String] { Set(owners).union(replicas.joined()).sorted() }

    /// `{"epoch": 3, "owners": ["w1", "w2", ...]}`, with `"replicas": [["w2"], ["w3"], ...]` when a slot has one.
    public var json: JSONValue {
        var members: JSONObject = [
            "epoch": .number(String(epoch)), "owners": .array(owners.map(JSONValue.string)),
        ]
        if replicas.contains(where: { !$0.isEmpty }) {
            members["replicas"] = .array(replicas.map { .array($0.map(JSONValue.string)) })
        }
        return .object(members)
    }

    /// Reads the `json` form; nil when it is not a slot table.
    public init?(json: JSONValue) {
        guard case .number(let epochText)? = json["epoch"], let epoch = Int64(epochText),
            let items = json["owners"]?.arrayValue, !items.isEmpty
        else { return nil }
        let owners = items.compactMap(\.stringValue)
        guard owners.count == items.count else { return nil }
        var replicas: [[String]] = []
        if let lists = json["replicas"]?.arrayValue {
            replicas = lists.map { ($0.arrayValue ?? []).compactMap(\.stringValue) }
            let valid =
                replicas.count == owners.count
                && zip(lists, replicas).allSatisfy { $0.arrayValue?.count == $1.count }
                && zip(owners, replicas).allSatisfy { owner, copies in
                    !copies.contains(owner) && Set(copies).count == copies.count
                }
            guard valid else { return nil }
        }
        self.init(epoch: epoch, owners: owners, replicas: replicas)
    }
}

/// What a worker is for a slot it holds: its primary (answers queries) or a replica (commits its writes, and is
/// promoted when the primary is lost).
public enum SlotRole: String, Sendable, Hashable, CaseIterable {
    case primary, replica
}
