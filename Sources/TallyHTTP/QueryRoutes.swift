import Hummingbird
import TallyCore
import TallyStore

/// `GET`/`POST /api/v1/meters/{meterIdOrSlug}/query` and `GET /api/v1/meters/{meterIdOrSlug}/subjects`.
struct QueryRoutes {
    let store: ShardStore
    let limits: APILimits

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/meters/:meter/query") { request, context -> Response in
            let meter = try MeterRoutes.meter(context, store)
            return try await answer(request, meter: meter, query: QueryRequestParser.parse(parameters: request.uri.queryParameters))
        }
        router.post("/api/v1/meters/:meter/query") { request, context -> Response in
            let meter = try MeterRoutes.meter(context, store)
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            return try await answer(request, meter: meter, query: QueryRequestParser.parse(body: body))
        }
        router.get("/api/v1/meters/:meter/subjects") { request, context -> Response in
            let meter = try MeterRoutes.meter(context, store)
            let parameters = request.uri.queryParameters
            let (from, to) = try QueryRequestParser.range(parameters)
            return Response.json(.array(try await store.meterSubjects(meter: meter, from: from, to: to).map(JSONValue.string)))
        }
    }

    private func answer(_ request: Request, meter: MeterDefinition, query requested: MeterQuery) async throws -> Response {
        let (query, calendar) = try QueryRequestParser.prepared(requested, for: meter)
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        try await store.accumulate(meter: meter, query: query, calendar: calendar, into: &accumulator)
        return QueryResultRendering.response(accumulator.result(now: query.to ?? .now), query: requested, request: request)
    }
}
