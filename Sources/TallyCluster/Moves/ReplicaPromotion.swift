import TallyCore
import TallyStore

/// Applies an assignment on a worker, promoting its replicas first: the slots the new table makes this worker own
/// that it kept as a replica are copied from the replica store into the primary store (under a cursor named by the
/// slot set, so a push repeated after a crash copies nothing twice) before the table is applied, then the events the
/// replica store committed meanwhile are copied too, with the slots' customer state, and the promoted slots leave the
/// replica store.
/// Once applied, the old epoch's writes are refused, so the last copy misses nothing.
struct ReplicaPromotion: Sendable {
    let stores: WorkerStores
    let membership: WorkerMembership

    func apply(_ json: JSONValue) async throws {
        guard let table = json["table"].flatMap(SlotTable.init(json:)), let current = membership.table,
            table.epoch > current.epoch, table.slotCount == current.slotCount
        else { return try await membership.apply(json) }
        let node = membership.node
        let promoted = Set(
            table.slots(ownedBy: node).filter { current.role(of: node, slot: $0) == .replica })
        guard !promoted.isEmpty else { return try await membership.apply(json) }
        // One cursor per slot set, whatever the epoch: two pushes promoting the same slots share it and install
        // each event once.
        let cursor = "promote-\(XXHash64.hash(promoted.sorted().map(String.init).joined(separator: ",")))"
        try await copy(promoted, slotCount: table.slotCount, cursor: cursor)
        // The customer state the coordinator copied to this replica after every write, installed before the table
        // (an install replaces the slots' rows, so a push repeated after a crash installs it again): no write of those
        // slots runs meanwhile, as the coordinator holds them while they switch and a failed owner takes none.
        try await stores.primary.installCustomerState(
            try await stores.replica.customerState(promoted, slotCount: table.slotCount))
        try await membership.apply(json)
        // A write transaction on the replica store waits for the writes admitted there before the apply: the last
        // copy sees them, and every later one is refused at the new epoch.
        try await stores.replica.saveEventsState([:])
        try await copy(promoted, slotCount: table.slotCount, cursor: cursor)
        try await stores.replica.deleteSlots(promoted, slotCount: table.slotCount)
        try await stores.replica.deleteCustomerState(promoted, slotCount: table.slotCount)
    }

    /// Copies `slots` from the replica store into the primary store until the copy reaches the replica store's
    /// position.
    private func copy(_ slots: Set<Int>, slotCount: Int, cursor: String) async throws {
        var through = try await stores.primary.copiedThrough(cursor: cursor)
        while true {
            let data = try await stores.replica.exportSlots(slots, slotCount: slotCount, after: through)
            try await stores.primary.installSlots(data, cursor: cursor)
            through = data.through
            if through >= data.sourcePosition { return }
        }
    }
}
