/// A worker's decision on a request sent for one epoch and touching some subjects.
public enum FencingDecision: Sendable, Hashable {
    case accept
    /// The request was routed with another epoch than the worker's (`local`; 0 before the worker has a table).
    case staleEpoch(local: Int64)
    /// Some subjects fall in slots the worker does not own at its epoch.
    case notOwner(slots: [Int])
}

/// What a worker knows about its place in the cluster: its name and the current slot table.
public struct FencingState: Sendable, Hashable {
    public var node: String
    public var table: SlotTable?

    public init(node: String, table: SlotTable?) {
        self.node = node
        self.table = table
    }

    /// Accepts only requests routed at the worker's epoch for subjects in slots it holds in `role` (reads and the
    /// primary's writes: `.primary`; a replica's writes: `.replica`).
    public func admit(epoch: Int64, subjects: some Sequence<String>, role: SlotRole = .primary) -> FencingDecision {
        guard let table, table.epoch == epoch else { return .staleEpoch(local: table?.epoch ?? 0) }
        var foreign = Set<Int>()
        for subject in subjects {
            let slot = table.slot(of: subject)
            if table.role(of: node, slot: slot) != role { foreign.insert(slot) }
        }
        return foreign.isEmpty ? .accept : .notOwner(slots: foreign.sorted())
    }
}
