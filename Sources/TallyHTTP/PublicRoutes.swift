import Hummingbird
import TallyConfiguration
import TallyCore
import TallyStore

/// The public, OpenMeter-compatible API, written once over a `MeteringBackend`: events, meters, queries, subjects
/// and health checks. A node and a coordinator register exactly these routes.
public struct PublicRoutes<Backend: MeteringBackend>: Sendable {
    let backend: Backend
    let limits: APILimits

    public init(backend: Backend, limits: APILimits) {
        self.backend = backend
        self.limits = limits
    }

    public func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in Response.json(.object(["status": .string("ok")])) }
        router.get("/readyz") { _, _ in Response.json(try await backend.readiness()) }
        router.post("/api/v1/events") { request, _ -> Response in
            try await backend.ingest(IngestRequest.events(of: request, limits: limits))
            return Response(status: .noContent)
        }
        router.get("/api/v1/events") { request, _ -> Response in
            Response.json(.array(try await backend.listEvents(EventListing.filter(request.uri.queryParameters))))
        }
        registerMeters(on: router)
        registerQueries(on: router)
        router.get("/api/v1/subjects") { request, _ -> Response in
            try await SubjectListing.response(request.uri.queryParameters, backend: backend)
        }
    }

    private func registerMeters(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/meters") { request, _ -> Response in
            Response.json(
                .array(
                    try MeterListing.page(of: try await backend.allMeters(), request.uri.queryParameters).map(\.json)))
        }
        router.post("/api/v1/meters") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch MeterSpec.parse(body) {
            case .failure(let failure): throw Problem.invalid("the meter is invalid", failure.errors)
            case .success(let spec): return Response.json(try await backend.createMeter(spec).json, status: .created)
            }
        }
        router.get("/api/v1/meters/:meter") { _, context -> Response in
            Response.json(try meter(context).json)
        }
        router.put("/api/v1/meters/:meter") { request, context -> Response in
            let current = try meter(context)
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch MeterUpdate.parse(body, current: current) {
            case .failure(let failure): throw Problem.invalid("the meter update is invalid", failure.errors)
            case .success(let update): return Response.json(try await backend.updateMeter(current, with: update).json)
            }
        }
        router.delete("/api/v1/meters/:meter") { _, context -> Response in
            try await backend.deleteMeter(try meter(context))
            return Response(status: .noContent)
        }
    }

    private func registerQueries(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/meters/:meter/query") { request, context -> Response in
            let meter = try meter(context)
            return try await answer(
                request, meter: meter, query: QueryRequestParser.parse(parameters: request.uri.queryParameters))
        }
        router.post("/api/v1/meters/:meter/query") { request, context -> Response in
            let meter = try meter(context)
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            return try await answer(request, meter: meter, query: QueryRequestParser.parse(body: body))
        }
        router.get("/api/v1/meters/:meter/subjects") { request, context -> Response in
            let meter = try meter(context)
            let (from, to) = try QueryRequestParser.range(request.uri.queryParameters)
            return Response.json(
                .array(try await backend.meterSubjects(meter, from: from, to: to).map(JSONValue.string)))
        }
    }

    /// The live meter named by the `:meter` path parameter, or a 404 problem.
    private func meter(_ context: BasicRequestContext) throws -> MeterDefinition {
        let idOrSlug = context.parameters.get("meter") ?? ""
        guard let meter = backend.liveMeter(idOrSlug) else { throw Problem.meterNotFound(idOrSlug) }
        return meter
    }

    private func answer(
        _ request: Request, meter: MeterDefinition, query requested: MeterQuery
    ) async throws -> Response {
        let allowPartial: Bool
        switch request.uri.queryParameters["allowPartial"] {
        case nil, "false": allowPartial = false
        case "true": allowPartial = true
        default: throw Problem.invalidField("allowPartial", "must be true or false")
        }
        let (query, calendar) = try QueryRequestParser.prepared(requested, for: meter)
        let answer = try await backend.query(query, of: meter, calendar: calendar, allowPartial: allowPartial)
        let extra: JSONObject =
            answer.missingWorkers.isEmpty
            ? [:]
            : [
                "missingWorkers": .array(answer.missingWorkers.map(JSONValue.string)),
                "missingSlots": .array(answer.missingSlots.map { .number(String($0)) }),
            ]
        return QueryResultRendering.response(answer.rows, query: requested, request: request, extra: extra)
    }
}
