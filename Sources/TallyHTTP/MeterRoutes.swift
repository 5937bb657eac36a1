import Hummingbird
import TallyCore
import TallyStore

/// Meter CRUD: `GET/POST /api/v1/meters`, `GET/PUT/DELETE /api/v1/meters/{meterIdOrSlug}`.
struct MeterRoutes {
    let store: ShardStore
    let limits: APILimits
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
        let meters = try await store.listMeters(includeDeleted: true)
        return Response.json(.array(try MeterListing.page(of: meters, request.uri.queryParameters).map(\.json)))
    }
}
