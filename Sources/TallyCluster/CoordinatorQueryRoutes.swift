import Hummingbird
import TallyCore
import TallyHTTP

/// Meter queries and subject listings at the coordinator, gathered across shards.
struct CoordinatorQueryRoutes {
    let coordinator: Coordinator
    let limits: APILimits

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/meters/:meter/query") { request, context -> Response in
            try await answer(request, context, QueryRequestParser.parse(parameters: request.uri.queryParameters))
        }
        router.post("/api/v1/meters/:meter/query") { request, context -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            return try await answer(request, context, QueryRequestParser.parse(body: body))
        }
        router.get("/api/v1/meters/:meter/subjects") { request, context -> Response in
            let meter = try CoordinatorMeterRoutes.meter(context, coordinator)
            _ = try QueryRequestParser.range(request.uri.queryParameters)
            let lists = try await coordinator.gather("/internal/v1/meters/\(meter.id)/subjects?" + (request.uri.query ?? ""))
            let subjects = Set(lists.flatMap { $0.arrayValue ?? [] }.compactMap(\.stringValue)).sorted()
            return Response.json(.array(subjects.map(JSONValue.string)))
        }
        router.get("/api/v1/subjects") { _, _ -> Response in
            let lists = try await coordinator.gather("/internal/v1/subjects")
            var earliest: [String: JSONValue] = [:]
            for item in lists.flatMap({ $0.arrayValue ?? [] }) {
                guard let key = item["key"]?.stringValue else { continue }
                if let known = earliest[key], (known["createdAt"]?.stringValue ?? "") <= (item["createdAt"]?.stringValue ?? "") { continue }
                earliest[key] = item
            }
            return Response.json(.array(earliest.keys.sorted().compactMap { earliest[$0] }))
        }
    }

    private func answer(_ request: Request, _ context: BasicRequestContext, _ requested: MeterQuery) async throws -> Response {
        let meter = try CoordinatorMeterRoutes.meter(context, coordinator)
        let allowPartial: Bool
        switch request.uri.queryParameters["allowPartial"] {
        case nil, "false": allowPartial = false
        case "true": allowPartial = true
        default: throw Problem.invalidField("allowPartial", "must be true or false")
        }
        let (query, calendar) = try QueryRequestParser.prepared(requested, for: meter)
        let answer = try await coordinator.query(meter: meter, query: query, calendar: calendar, allowPartial: allowPartial)
        let extra: JSONObject = answer.missingWorkers.isEmpty ? [:] : [
            "missingWorkers": .array(answer.missingWorkers.map(JSONValue.string)),
            "missingSlots": .array(answer.missingSlots.map { .number(String($0)) }),
        ]
        return QueryResultRendering.response(answer.rows, query: requested, request: request, extra: extra)
    }
}
