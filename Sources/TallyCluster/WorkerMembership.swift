import Synchronization
import TallyCore
import TallyStore

/// Why a worker refused a request or an assignment; the worker's routes render these as 409 problems.
public enum MembershipError: Error, Sendable, Hashable {
    /// The request was routed at `requested`; the worker is at `local` (0 before it has a table).
    case staleEpoch(requested: Int64, local: Int64)
    /// Some subjects fall in slots the worker does not own at `epoch`.
    case notOwner(slots: [Int], epoch: Int64)
    /// The request needs meter catalog version `needed`; the worker holds `local`.
    case catalogBehind(local: Int64, needed: Int64)
    /// The assignment names another node.
    case wrongNode(String?)
    /// The assignment is older than what the worker holds (epoch first, then catalog version).
    case staleAssignment(epoch: Int64, catalogVersion: Int64, localEpoch: Int64, localCatalogVersion: Int64)
    /// The assignment is not one: the field and the reason.
    case invalidAssignment(FieldError)
    /// The coordinator pushed an assignment to a worker it knows took one before, but the worker has no slot table:
    /// its data folder was lost, so it must not take slots it would serve empty.
    case tableLost
}

/// A worker's place in the cluster: its slot table and the meter catalog version it holds, kept in its
/// shard database so a restarted worker fences requests before the coordinator has spoken to it. State changes
/// are published only once the transaction that stores them committed.
public final class WorkerMembership: Sendable {
    static let stateKey = "cluster.assignment"

    public let node: String
    let store: ShardStore
    private let state: Mutex<(fencing: FencingState, catalogVersion: Int64)>

    public init(node: String, store: ShardStore) async throws {
        self.node = node
        self.store = store
        var table: SlotTable?
        var version: Int64 = 0
        // The newest of the two records: a meter change writes the aggregates file's, a new table alone the events
        // file's; both grow in (epoch, catalog version).
        let stored = try await store.nodeState(WorkerMembership.stateKey)
        for text in [stored.aggregates, stored.events].compactMap({ $0 }) {
            guard let json = try? JSONParser.parse(text), let candidate = json["table"].flatMap(SlotTable.init(json:))
            else { continue }
            var candidateVersion: Int64 = 0
            if case .number(let number)? = json["catalogVersion"] { candidateVersion = Int64(number) ?? 0 }
            if table == nil || (candidate.epoch, candidateVersion) > (table?.epoch ?? 0, version) {
                table = candidate
                version = candidateVersion
            }
        }
        state = Mutex((FencingState(node: node, table: table), version))
    }

    public var epoch: Int64 { state.withLock { $0.fencing.table?.epoch ?? 0 } }

    /// The slot table this worker holds, if any.
    public var table: SlotTable? { state.withLock { $0.fencing.table } }

    /// The slots this worker holds in `role` at its epoch in a cluster of `slotCount` slots; every slot when its
    /// table has another slot count (so nothing is deleted on a mismatch).
    public func heldSlots(_ role: SlotRole, slotCount: Int) -> Set<Int> {
        guard let table else { return [] }
        guard table.slotCount == slotCount else { return Set(0..<slotCount) }
        return Set(role == .primary ? table.slots(ownedBy: node) : table.slots(replicatedBy: node))
    }
    public var catalogVersion: Int64 { state.withLock { $0.catalogVersion } }

    /// Throws unless a request routed at `epoch`, needing catalog version `catalog`, may touch `subjects` here in
    /// `role` (queries and the owner's writes: `.primary`).
    public func admit(
        epoch: Int64, catalog: Int64, subjects: some Sequence<String>, role: SlotRole = .primary
    ) throws(MembershipError) {
        let (fencing, localCatalog) = state.withLock { ($0.fencing, $0.catalogVersion) }
        switch fencing.admit(epoch: epoch, subjects: subjects, role: role) {
        case .staleEpoch(let local): throw .staleEpoch(requested: epoch, local: local)
        case .notOwner(let slots): throw .notOwner(slots: slots, epoch: epoch)
        case .accept:
            guard catalog <= localCatalog else { throw .catalogBehind(local: localCatalog, needed: catalog) }
        }
    }

    /// Applies an assignment pushed by the coordinator: meters, features and table in one transaction, published in
    /// memory when it commits. Refuses an assignment for another node, or older than the one held (checked inside the
    /// transaction, so concurrent pushes apply in order or not at all).
    public func apply(_ json: JSONValue) async throws {
        guard json["node"]?.stringValue == node else { throw MembershipError.wrongNode(json["node"]?.stringValue) }
        guard let table = json["table"].flatMap(SlotTable.init(json:)), table.owners.count == table.slotCount,
            table.slotCount > 0
        else {
            throw MembershipError.invalidAssignment(FieldError(field: "table", reason: "must be a slot table"))
        }
        guard case .number(let versionText)? = json["catalogVersion"], let version = Int64(versionText), version >= 0
        else {
            throw MembershipError.invalidAssignment(
                FieldError(field: "catalogVersion", reason: "must be an integer ≥ 0"))
        }
        guard let items = json["meters"]?.arrayValue else {
            throw MembershipError.invalidAssignment(FieldError(field: "meters", reason: "must be an array of meters"))
        }
        let meters = items.compactMap(MeterDefinition.init(json:))
        guard meters.count == items.count else {
            throw MembershipError.invalidAssignment(FieldError(field: "meters", reason: "holds an invalid meter"))
        }
        let featureItems = json["features"]?.arrayValue ?? []
        let features = featureItems.compactMap(Feature.init(json:))
        guard features.count == featureItems.count else {
            throw MembershipError.invalidAssignment(FieldError(field: "features", reason: "holds an invalid feature"))
        }
        let record: JSONValue = .object(["table": table.json, "catalogVersion": .number(String(version))])
        let node = node
        let check: @Sendable () throws -> Void = {
            let (localEpoch, localCatalog) = self.state.withLock { ($0.fencing.table?.epoch ?? 0, $0.catalogVersion) }
            guard (table.epoch, version) >= (localEpoch, localCatalog) else {
                throw MembershipError.staleAssignment(
                    epoch: table.epoch, catalogVersion: version, localEpoch: localEpoch,
                    localCatalogVersion: localCatalog)
            }
        }
        let publish: @Sendable () -> Void = {
            self.state.withLock { $0 = (FencingState(node: node, table: table), version) }
        }
        let state = [WorkerMembership.stateKey: JSONWriter.string(record)]
        // A catalog version names one catalog: at the version this worker holds, only the table can be new, and it is
        // stored with the events writer alone — never behind a long aggregate flush, so a slot move's switch-over
        // reaches a busy worker at once.
        if version == catalogVersion {
            try await store.saveEventsState(state, check: check, then: publish)
        } else {
            try await store.syncMeters(meters, features: features, state: state, check: check, then: publish)
        }
    }
}
