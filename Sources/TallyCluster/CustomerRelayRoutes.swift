import Foundation
import Hummingbird
import NIOHTTP1
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore

/// The coordinator's per-customer routes: each is relayed to the owner of the customer's slot, which answers it with
/// the node's own routes (`EntitlementRoutes`, `CustomerRoutes`). The coordinator only finds the owner key: a
/// subject or customer key as given, a customer, entitlement or grant id by asking the workers who holds it, a new
/// customer's key from its body (required in a cluster, with its subjects in its slot: `CustomerPlacement`). A
/// subject upsert is split by slot and its answers put back in the order asked.
struct CustomerRelayRoutes {
    let coordinator: Coordinator
    let limits: APILimits

    func register(on router: Router<BasicRequestContext>) {
        for (base, byID) in [
            ("/api/v1/subjects/:customer/entitlements", false), ("/api/v2/customers/:customer/entitlements", true),
        ] {
            let relay: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
                let param = try RouteParameters.parameter(context, "customer")
                return try await self.relay(request, ownerKey: byID ? try await owner(idOrKey: param) : param)
            }
            for suffix in ["", "/:entitlement/grants"] {
                router.get(RouterPath(stringLiteral: base + suffix), use: relay)
                router.post(RouterPath(stringLiteral: base + suffix), use: relay)
            }
            router.get(RouterPath(stringLiteral: base + "/:entitlement"), use: relay)
            router.delete(RouterPath(stringLiteral: base + "/:entitlement"), use: relay)
            router.put(RouterPath(stringLiteral: base + "/:entitlement/override"), use: relay)
            router.get(RouterPath(stringLiteral: base + "/:entitlement/value"), use: relay)
            router.get(RouterPath(stringLiteral: base + "/:entitlement/history"), use: relay)
            router.post(RouterPath(stringLiteral: base + "/:entitlement/reset"), use: relay)
        }
        let byCustomer: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
            try await relay(request, ownerKey: try await owner(idOrKey: RouteParameters.parameter(context, "customer")))
        }
        router.get("/api/v1/customers/:customer/access", use: byCustomer)
        router.get("/api/v1/customers/:customer/entitlements/:entitlement/value", use: byCustomer)
        router.get("/api/v1/customers/:customer", use: byCustomer)
        router.delete("/api/v1/customers/:customer", use: byCustomer)
        router.put("/api/v1/customers/:customer") { request, context -> Response in
            let owner = try await owner(idOrKey: RouteParameters.parameter(context, "customer"))
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            if case .success(let spec) = CustomerSpec.parse(body) {
                guard spec.key != nil else { throw CustomerRelayRoutes.keyRequired }
                try place(spec, keeping: owner)
            }
            return try await relay(request, ownerKey: owner, body: body)
        }
        router.post("/api/v1/customers") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            guard case .success(let spec) = CustomerSpec.parse(body) else {
                return try await relay(request, ownerKey: "", body: body)
            }
            guard let key = spec.key else { throw CustomerRelayRoutes.keyRequired }
            try place(spec, keeping: key)
            return try await relay(request, ownerKey: key, body: body)
        }
        router.post("/api/v1/subjects") { request, _ -> Response in
            try await upsertSubjects(request)
        }
        for list in ["/api/v1/entitlements", "/api/v1/grants", "/api/v1/customers"] {
            router.get(RouterPath(stringLiteral: list)) { _, _ -> Response in
                throw CustomerRelayRoutes.notInCluster("GET \(list)")
            }
        }
        router.get("/api/v1/entitlements/:entitlement") { request, context -> Response in
            let id = try RouteParameters.parameter(context, "entitlement")
            guard let owner = try await coordinator.locateOwner(id: id) else {
                throw EntitlementStoreError.entitlementNotFound(id)
            }
            return try await relay(request, ownerKey: owner)
        }
        router.delete("/api/v1/grants/:grant") { request, context -> Response in
            let id = try RouteParameters.parameter(context, "grant")
            guard let owner = try await coordinator.locateOwner(id: id) else {
                throw EntitlementStoreError.grantNotFound(id)
            }
            return try await relay(request, ownerKey: owner)
        }
    }

    /// A customer without a key: its key places it.
    static let keyRequired = Problem.invalidField(
        "key", "is required in a cluster: a customer lives in the slot of its key")

    /// What a cluster does not serve yet: 501 naming the route.
    static func notInCluster(_ route: String) -> Problem {
        Problem(
            .notImplemented, type: "urn:tally:problem:not-in-cluster",
            detail: "\(route) is served by a single node; a cluster's coordinator does not gather it from the "
                + "workers yet (docs/api.md, \"Entitlements in a cluster\")")
    }

    /// The owner key a customer id or key names: the owner key of the customer with that id when a worker holds one,
    /// else the key itself (a customer key, or a subject key acting as its own customer or attributed to one, which
    /// shares its customer's slot).
    private func owner(idOrKey: String) async throws -> String {
        guard ULID.isValid(idOrKey) else { return idOrKey }
        return try await coordinator.locateOwner(id: idOrKey) ?? idOrKey
    }

    /// Refuses a customer whose key would leave the slot of `ownerKey` or whose subjects lie in other slots.
    private func place(_ spec: CustomerSpec, keeping ownerKey: String) throws {
        let slotCount = coordinator.state.snapshot.table.slotCount
        let key = spec.key ?? ownerKey
        if SlotTable.slot(of: key, slotCount: slotCount) != SlotTable.slot(of: ownerKey, slotCount: slotCount) {
            throw Problem.invalidField(
                "key",
                "would move the customer to another slot; in a cluster a customer's key changes only within "
                    + "its slot (create a new customer instead)")
        }
        let errors = CustomerPlacement.misplacedSubjects(
            ownerKey: key, subjectKeys: spec.subjectKeys, slotCount: slotCount)
        guard errors.isEmpty else { throw Problem.invalid("the customer's subjects lie in other slots", errors) }
    }

    /// `POST /api/v1/subjects`, split by the slot of each subject key (each provisions a customer in its own slot);
    /// the parts are relayed one after the other and the answers put back in the order asked. A part that fails is
    /// answered as it is; the parts before it stay applied (an upsert repeated changes nothing).
    private func upsertSubjects(_ request: Request) async throws -> Response {
        let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
        guard case .success(let subjects) = SubjectUpsert.parse(body), let items = body.arrayValue else {
            return try await relay(request, ownerKey: "", body: body)
        }
        let table = coordinator.state.snapshot.table
        var order: [Int] = []
        var parts: [Int: [Int]] = [:]
        for (index, subject) in subjects.enumerated() {
            let slot = table.slot(of: subject.key)
            if parts[slot] == nil { order.append(slot) }
            parts[slot, default: []].append(index)
        }
        var answers = [JSONValue](repeating: .null, count: items.count)
        for slot in order {
            let indices = parts[slot] ?? []
            let reply = try await coordinator.relay(
                .POST, "/api/v1/subjects", body: JSONWriter.string(.array(indices.map { items[$0] })),
                contentType: "application/json", ownerKey: subjects[indices[0]].key)
            guard (200..<300).contains(reply.status), let answered = reply.json?.arrayValue,
                answered.count == indices.count
            else { return CustomerRelayRoutes.response(reply) }
            for (index, answer) in zip(indices, answered) { answers[index] = answer }
        }
        return Response.json(.array(answers))
    }

    private func relay(_ request: Request, ownerKey: String, body: JSONValue? = nil) async throws -> Response {
        var text: String?
        if let body {
            text = JSONWriter.string(body)
        } else if request.method != .get, request.method != .delete {
            text = JSONWriter.string(try await request.jsonBody(maxBytes: limits.maxBodyBytes))
        }
        let path = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
        let reply = try await coordinator.relay(
            HTTPMethod(rawValue: request.method.rawValue), path, body: text, contentType: "application/json",
            ownerKey: ownerKey)
        return CustomerRelayRoutes.response(reply)
    }

    /// The worker's answer as the client's: its status and body, JSON or a problem.
    static func response(_ reply: WorkerReply) -> Response {
        guard reply.status != 204 else { return Response(status: .noContent) }
        let type = reply.status >= 400 ? "application/problem+json" : "application/json"
        return Response(
            status: HTTPResponse.Status(code: reply.status), headers: [.contentType: type],
            body: ResponseBody(byteBuffer: reply.body))
    }
}
