import Hummingbird
import TallyCore
import TallyStore

/// Meter CRUD: `GET/POST /api/v1/meters`, `GET/PUT/DELETE /api/v1/meters/{meterIdOrSlug}`.
struct MeterRoutes {
    let store: ShardStore
    let limits: APILimits
    /// Largest `pageSize` accepted.
    static let maxPageSize = 1000

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/meters") { request, _ in try await list(request) }
        router.post("/api/v1/meters") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch MeterSpec.parse(body) {
            case .failure(let failure): throw Problem.invalid("the meter is invalid", failure.errors)
            case .success(let spec): return Response.json(try await store.createMeter(spec).json, status: .created)
            }
        }
        router.get("/api/v1/meters/:meter") { _, context -> Response in
            try Response.json(MeterRoutes.meter(context, store).json)
        }
        router.put("/api/v1/meters/:meter") { request, context -> Response in
            let current = try MeterRoutes.meter(context, store)
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch MeterUpdate.parse(body, current: current) {
            case .failure(let failure): throw Problem.invalid("the meter update is invalid", failure.errors)
            case .success(let update): return Response.json(try await store.updateMeter(idOrSlug: current.id, update).json)
            }
        }
        router.delete("/api/v1/meters/:meter") { _, context -> Response in
            try await store.deleteMeter(idOrSlug: try MeterRoutes.meter(context, store).id)
            return Response(status: .noContent)
        }
    }

    /// The live meter named by the `:meter` path parameter, or a 404 problem.
    static func meter(_ context: BasicRequestContext, _ store: ShardStore) throws -> MeterDefinition {
        let idOrSlug = context.parameters.get("meter") ?? ""
        guard let meter = store.meter(idOrSlug: idOrSlug) else { throw Problem.meterNotFound(idOrSlug) }
        return meter
    }

    private func list(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        var errors: [FieldError] = []
        func integer(_ name: String, default value: Int, range: ClosedRange<Int>) -> Int {
            guard let text = parameters[Substring(name)] else { return value }
            guard let parsed = Int(text), range.contains(parsed) else {
                errors.append(FieldError(field: name, reason: "must be an integer from \(range.lowerBound) to \(range.upperBound)"))
                return value
            }
            return parsed
        }
        let page = integer("page", default: 1, range: 1...Int.max)
        let pageSize = integer("pageSize", default: 100, range: 1...MeterRoutes.maxPageSize)
        let order = parameters["order"].map(String.init) ?? "ASC"
        if order != "ASC" && order != "DESC" { errors.append(FieldError(field: "order", reason: "must be ASC or DESC")) }
        let orderBy = parameters["orderBy"].map(String.init) ?? "key"
        let keys: [String: (MeterDefinition) -> String] = [
            "key": { $0.slug }, "name": { $0.name }, "aggregation": { $0.aggregation.rawValue },
            "createdAt": { $0.createdAt.description }, "updatedAt": { $0.updatedAt.description },
        ]
        if keys[orderBy] == nil { errors.append(FieldError(field: "orderBy", reason: "must be one of key, name, aggregation, createdAt, updatedAt")) }
        let includeDeleted = parameters["includeDeleted"].map { $0 == "true" } ?? false
        guard errors.isEmpty, let sortKey = keys[orderBy] else { throw Problem.invalid("invalid meter listing parameters", errors) }
        var meters = try await store.listMeters(includeDeleted: includeDeleted)
            .sorted { (sortKey($0), $0.id) < (sortKey($1), $1.id) }
        if order == "DESC" { meters.reverse() }
        let start = min(meters.count, (page - 1).multipliedReportingOverflow(by: pageSize).partialValue)
        return Response.json(.array(meters[start..<min(meters.count, start + pageSize)].map(\.json)))
    }
}
