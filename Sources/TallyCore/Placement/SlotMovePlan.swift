/// What a move copies onto one worker: for each current owner of some of the slots, the slots it copies to the
/// receiving worker, and the table once they are copied. Adding a worker (`adding`) hands the new worker the slots
/// it will own (their owners give them up); a repair (`repairing`) gives an existing worker replicas of slots
/// that lack copies (nobody gives anything up), or replicas that even out the workers' shares (`balancing`);
/// draining a worker (`draining`) is repairs that copy its slots to the workers that keep them, then a drain that
/// switches to the table without it (nothing is copied: its `worker` is the one leaving, and its only source that
/// worker with the slots it owned).
public struct SlotMovePlan: Sendable, Hashable {
    /// What a move does.
    public enum Kind: String, Sendable, Hashable {
        /// A worker joins and takes over slots from their owners.
        case addWorker = "add-worker"
        /// A worker receives replicas of slots that have fewer copies than the replication factor.
        case repair
        /// A worker whose slots were copied to the others leaves: the table without it becomes the cluster's.
        case drain
    }

    public var kind: Kind
    /// The worker that receives the slots.
    public var worker: String
    /// The table once the move is done; its epoch is the current one plus one.
    public var target: SlotTable
    /// Source worker → the slots it gives up, ascending.
    public var slotsBySource: [String: [Int]]

    public init(kind: Kind = .addWorker, worker: String, target: SlotTable, slotsBySource: [String: [Int]]) {
        self.kind = kind
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

    /// The first repair of `table` towards `factor` copies of every slot, between `candidates` (the live workers): the
    /// replicas `SlotPlanner.withReplicas` adds for the first candidate (by name) that receives any, copied from each
    /// slot's owner, which must be a candidate too; nil when no slot lacks a copy the candidates could make.
    public static func repairing(
        _ table: SlotTable, factor: Int, candidates: some Sequence<String>
    ) -> SlotMovePlan? {
        let live = Set(candidates)
        return repairing(
            table, towards: SlotPlanner.withReplicas(table, factor: factor, candidates: live), sources: live)
    }

    /// The first repair towards `SlotPlanner.balancingReplicas` among `candidates` (the live workers): the replicas it
    /// adds for the first receiving worker by name, copied from the slots' owners; nil when none is added.
    public static func balancing(_ table: SlotTable, candidates: some Sequence<String>) -> SlotMovePlan? {
        let live = Set(candidates)
        return repairing(table, towards: SlotPlanner.balancingReplicas(table, candidates: live), sources: live)
    }

    /// The next step of draining `worker` out of `table` (`SlotPlanner.draining` towards `factor` copies among
    /// `candidates`): a repair that copies, from the slots' owners in `sources` (the live workers, `worker` included),
    /// the slots the first receiver by name must hold and does not yet; once every holder of the table without
    /// `worker` holds its slots, the drain, whose target is that table at the next epoch. Nil while copies are missing
    /// that no source can give, or while no candidate could take a slot only `worker` holds.
    public static func draining(
        _ worker: String, from table: SlotTable, factor: Int, candidates: Set<String>, sources: Set<String>
    ) -> SlotMovePlan? {
        var target = SlotPlanner.draining(worker, from: table, factor: factor, candidates: candidates)
        if let repair = repairing(table, towards: target, sources: sources) { return repair }
        let missing = (0..<table.slotCount).contains { slot in
            !Set(target.holders(ofSlot: slot)).isSubset(of: table.holders(ofSlot: slot))
        }
        guard !missing, !target.holders.contains(worker) else { return nil }
        target.epoch = table.epoch + 1
        return SlotMovePlan(
            kind: .drain, worker: worker, target: target, slotsBySource: [worker: table.slots(ownedBy: worker)])
    }

    /// The repair of `table` that gives the first worker (by name) holding a slot in `complete` but not in `table`
    /// every such slot whose owner is one of `sources`, copied from that owner; nil when there is none.
    static func repairing(_ table: SlotTable, towards complete: SlotTable, sources: Set<String>) -> SlotMovePlan? {
        var added: [String: [Int]] = [:]
        for slot in 0..<table.slotCount where sources.contains(table.owners[slot]) {
            let holders = table.holders(ofSlot: slot)
            for holder in complete.holders(ofSlot: slot) where !holders.contains(holder) {
                added[holder, default: []].append(slot)
            }
        }
        guard let worker = added.keys.min(), let slots = added[worker] else { return nil }
        var target = table
        target.epoch += 1
        var bySource: [String: [Int]] = [:]
        for slot in slots {
            target.replicas[slot].append(worker)
            bySource[table.owners[slot], default: []].append(slot)
        }
        return SlotMovePlan(kind: .repair, worker: worker, target: target, slotsBySource: bySource)
    }

    /// Every slot copied to the receiving worker (for an addition: every slot that changes owner).
    public var movingSlots: Set<Int> { Set(slotsBySource.values.joined()) }

    /// Source workers in name order.
    public var sources: [String] { slotsBySource.keys.sorted() }
}
