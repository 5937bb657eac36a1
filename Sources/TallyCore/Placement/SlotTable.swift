/// Which worker owns each slot, at one epoch. A subject lives in slot `XXH64(subject) mod slotCount`
/// (seed 0, UTF-8 bytes); the epoch grows by one with every change of the table.
public struct SlotTable: Sendable, Hashable {
    /// Default number of slots of a new cluster; fixed for the cluster's life.
    public static let defaultSlotCount = 1024
    /// Most slots a cluster may have: slot lists travel in headers (a move's list of half the slots stays under
    /// the 80 KB a worker reads of a request's or response's head) and slot tables in every assignment.
    public static let maxSlotCount = 16_384

    public var epoch: Int64
    /// Owner of each slot, indexed by slot.
    public var owners: [String]

    public init(epoch: Int64, owners: [String]) {
        self.epoch = epoch
        self.owners = owners
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

    /// `{"epoch": 3, "owners": ["w1", "w2", ...]}`.
    public var json: JSONValue {
        .object(["epoch": .number(String(epoch)), "owners": .array(owners.map(JSONValue.string))])
    }

    /// Reads the `json` form; nil when it is not a slot table.
    public init?(json: JSONValue) {
        guard case .number(let epochText)? = json["epoch"], let epoch = Int64(epochText),
            let items = json["owners"]?.arrayValue, !items.isEmpty
        else { return nil }
        let owners = items.compactMap(\.stringValue)
        guard owners.count == items.count else { return nil }
        self.init(epoch: epoch, owners: owners)
    }
}
