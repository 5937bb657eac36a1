import HTTPTypes
import Hummingbird
import Synchronization
import TallyCore
import TallyHTTP
import TallyStore

/// A worker's place in the cluster: its slot table and the meter catalog version it holds, kept in its
/// shard database so a restarted worker fences requests before the coordinator has spoken to it.
public final class WorkerMembership: Sendable {
    /// Header carrying the epoch a request was routed at.
    public static let epochHeader = HTTPField.Name("Tally-Epoch")!
    /// Header carrying the catalog version the coordinator held when it sent the request.
    public static let catalogHeader = HTTPField.Name("Tally-Catalog-Version")!
    static let stateKey = "cluster.assignment"

    public let node: String
    let store: ShardStore
    private let state: Mutex<(fencing: FencingState, catalogVersion: Int64)>

    public init(node: String, store: ShardStore) async throws {
        self.node = node
        self.store = store
        var table: SlotTable?
        var version: Int64 = 0
        if let text = try await store.nodeState(WorkerMembership.stateKey), let json = try? JSONParser.parse(text) {
            table = json["table"].flatMap(SlotTable.init(json:))
            if case .number(let number)? = json["catalogVersion"] { version = Int64(number) ?? 0 }
        }
        state = Mutex((FencingState(node: node, table: table), version))
    }

    public var epoch: Int64 { state.withLock { $0.fencing.table?.epoch ?? 0 } }
    public var catalogVersion: Int64 { state.withLock { $0.catalogVersion } }

    /// Throws a 409 problem unless `request` was routed at this worker's epoch, with a catalog no newer
    /// than this worker's, for subjects in slots it owns.
    public func admit(_ request: Request, subjects: some Sequence<String>) throws {
        let epoch = request.headers[WorkerMembership.epochHeader].flatMap { Int64($0) } ?? -1
        let catalog = request.headers[WorkerMembership.catalogHeader].flatMap { Int64($0) } ?? 0
        let (fencing, localCatalog) = state.withLock { ($0.fencing, $0.catalogVersion) }
        let extensions: JSONObject = ["node": .string(node), "epoch": .number(String(fencing.table?.epoch ?? 0)),
                                      "catalogVersion": .number(String(localCatalog))]
        switch fencing.admit(epoch: epoch, subjects: subjects) {
        case .staleEpoch(let local):
            throw Problem(.conflict, type: "urn:tally:problem:stale-epoch",
                          detail: "request routed at epoch \(epoch); worker \(node) is at epoch \(local)", extensions: extensions)
        case .notOwner(let slots):
            var members = extensions
            members["slots"] = .array(slots.map { .number(String($0)) })
            throw Problem(.conflict, type: "urn:tally:problem:not-owner",
                          detail: "worker \(node) does not own slot(s) \(slots.map(String.init).joined(separator: ", ")) at epoch \(epoch)", extensions: members)
        case .accept:
            guard catalog <= localCatalog else {
                throw Problem(.conflict, type: "urn:tally:problem:catalog-behind",
                              detail: "worker \(node) holds meter catalog version \(localCatalog); the request needs \(catalog)", extensions: extensions)
            }
        }
    }

    /// Applies an assignment pushed by the coordinator: meters first, then the table, in one transaction.
    /// Refuses an assignment for another node or for an older epoch.
    public func apply(_ json: JSONValue) async throws {
        guard json["node"]?.stringValue == node else {
            throw Problem(.conflict, type: "urn:tally:problem:wrong-node",
                          detail: "this worker is \(node); the assignment is for \(json["node"]?.stringValue ?? "nobody")")
        }
        guard let table = json["table"].flatMap(SlotTable.init(json:)), case .number(let versionText)? = json["catalogVersion"],
              let version = Int64(versionText), let items = json["meters"]?.arrayValue else {
            throw Problem.invalidField("body", "must be an assignment: node, table, catalogVersion, meters")
        }
        let meters = items.compactMap(MeterDefinition.init(json:))
        guard meters.count == items.count else { throw Problem.invalidField("meters", "holds an invalid meter") }
        guard table.epoch >= epoch else {
            throw Problem(.conflict, type: "urn:tally:problem:stale-epoch", detail: "assignment for epoch \(table.epoch); worker \(node) is at epoch \(epoch)")
        }
        let record: JSONValue = .object(["table": table.json, "catalogVersion": .number(String(version))])
        try await store.syncMeters(meters, state: [WorkerMembership.stateKey: JSONWriter.string(record)])
        state.withLock { $0 = (FencingState(node: node, table: table), version) }
    }
}
