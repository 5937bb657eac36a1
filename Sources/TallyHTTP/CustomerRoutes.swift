import Hummingbird
import HummingbirdCore
import TallyConfiguration
import TallyCore
import TallyStore

/// The OpenMeter-compatible customers API (`/api/v1/customers`) and the subject upsert (`POST /api/v1/subjects`),
/// written once over a `CustomerBackend`.
public struct CustomerRoutes<Backend: CustomerBackend>: Sendable {
    let backend: Backend
    let limits: APILimits

    public init(backend: Backend, limits: APILimits) {
        self.backend = backend
        self.limits = limits
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("/api/v1/customers") { request, _ -> Response in
            let spec = try await customerSpec(request)
            return Response.json(try await backend.createCustomer(spec).json, status: .created)
        }
        router.get("/api/v1/customers") { request, _ -> Response in
            try await list(request.uri.queryParameters)
        }
        router.get("/api/v1/customers/:customer") { _, context -> Response in
            let idOrKey = try RouteParameters.customer(context)
            guard let customer = try await backend.customer(idOrKey: idOrKey) else {
                throw CustomerStoreError.customerNotFound(idOrKey)
            }
            return Response.json(customer.json)
        }
        router.put("/api/v1/customers/:customer") { request, context -> Response in
            let idOrKey = try RouteParameters.customer(context)
            let spec = try await customerSpec(request)
            return Response.json(try await backend.replaceCustomer(idOrKey: idOrKey, spec).json)
        }
        router.delete("/api/v1/customers/:customer") { _, context -> Response in
            try await backend.deleteCustomer(idOrKey: try RouteParameters.customer(context))
            return Response(status: .noContent)
        }
        router.post("/api/v1/subjects") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch SubjectUpsert.parse(body) {
            case .failure(let failure): throw Problem.invalid("the subjects are invalid", failure.errors)
            case .success(let subjects):
                let records = try await backend.upsertSubjects(subjects)
                return Response.json(
                    .array(
                        zip(subjects, records).map { subject, record in
                            var members: JSONObject = [
                                "id": .string(record.id), "key": .string(record.key),
                                "createdAt": .string(record.firstSeen.description),
                                "updatedAt": .string(record.firstSeen.description),
                            ]
                            if let name = subject.displayName { members["displayName"] = .string(name) }
                            if let metadata = subject.metadata {
                                members["metadata"] = .object(JSONObject(metadata) { .string($0) })
                            }
                            return .object(members)
                        }))
            }
        }
    }

    /// `GET /api/v1/customers`: always a page object; filters `key` (exact), `name` and `primaryEmail` (contained,
    /// case-insensitive), `subject` (attributed); ordered by `name` (default), `id` or `createdAt`.
    private func list(_ parameters: FlatDictionary<Substring, Substring>) async throws -> Response {
        let includeDeleted = try RouteParameters.flag(parameters, "includeDeleted") ?? false
        let key = parameters["key"].map(String.init)
        let name = parameters["name"].map { $0.lowercased() }
        let email = parameters["primaryEmail"].map { $0.lowercased() }
        let subject = parameters["subject"].map(String.init)
        var customers = try await backend.customers(includeDeleted: includeDeleted).filter { customer in
            let spec = customer.spec
            return (key == nil || spec.key == key) && (name.map { spec.name.lowercased().contains($0) } ?? true)
                && (email.map { spec.primaryEmail?.lowercased().contains($0) ?? false } ?? true)
                && (subject.map { spec.subjectKeys.contains($0) } ?? true)
        }
        let orders: [String: (Customer, Customer) -> Bool] = [
            "id": { $0.id < $1.id }, "name": { ($0.spec.name, $0.id) < ($1.spec.name, $1.id) },
            "createdAt": { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) },
        ]
        let orderBy = parameters["orderBy"].map(String.init) ?? "name"
        guard let order = orders[orderBy] else {
            throw Problem.invalidField("orderBy", "must be one of id, name, createdAt")
        }
        customers.sort(by: order)
        if try LegacyPaging.descending(parameters) { customers.reverse() }
        return try RouteParameters.page(customers.map(\.json), parameters)
    }

    private func customerSpec(_ request: Request) async throws -> CustomerSpec {
        let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
        switch CustomerSpec.parse(body) {
        case .failure(let failure): throw Problem.invalid("the customer is invalid", failure.errors)
        case .success(let spec): return spec
        }
    }
}
