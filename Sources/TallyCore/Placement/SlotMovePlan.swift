/// What adding a worker moves: the table after it joins (`SlotPlanner.adding`) and, for each current owner that
/// gives slots up, the slots it hands to the new worker. Only the new worker receives slots.
public struct SlotMovePlan: Sendable, Hashable {
    /// The worker that joins.
    public var worker: String
    /// The table once the move is done; its epoch is the current one plus one.
    public var target: SlotTable
    /// Source worker → the slots it gives up, ascending.
    public var slotsBySource: [String: [Int]]

    public init(worker: String, target: SlotTable, slotsBySource: [String: [Int]]) {
        self.worker = worker
        self.target = target
        self.slotsBySource = slotsBySource
    }

    /// The plan for `worker` joining the cluster that `table` describes.
    public static func adding(_ worker: String, to table: SlotTable) -> SlotMovePlan {
        let target = SlotPlanner.adding(worker, to: table)
        var bySource: [String: [Int]] = [:]
        for move in SlotPlanner.moves(from: table, to: target) { bySource[move.from, default: []].append(move.slot) }
        return SlotMovePlan(worker: worker, target: target, slotsBySource: bySource.mapValues { $0.sorted() })
    }

    /// Every slot that changes owner.
    public var movingSlots: Set<Int> { Set(slotsBySource.values.joined()) }

    /// Source workers in name order.
    public var sources: [String] { slotsBySource.keys.sorted() }
}
