import TallyCore
import TallyStore

/// A worker's two shard stores: `primary` holds the slots it owns and answers queries; `replica` keeps the copies
/// of slots other workers own: raw events, customers and de-dup keys only (it never gets meters, so it keeps no
/// aggregates), until a promotion moves a slot's copy into `primary`.
public struct WorkerStores: Sendable {
    public let primary: ShardStore
    public let replica: ShardStore

    public init(primary: ShardStore, replica: ShardStore) {
        self.primary = primary
        self.replica = replica
    }

    /// The store holding the slots of `role`.
    public func store(_ role: SlotRole) -> ShardStore { role == .primary ? primary : replica }
}
