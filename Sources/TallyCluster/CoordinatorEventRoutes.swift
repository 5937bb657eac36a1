import Hummingbird
import TallyCore
import TallyHTTP

/// `POST /api/v1/events` and `GET /api/v1/events` at the coordinator: ingestion split by owner, listings
/// gathered from every worker (the `subject` filter is a substring match) and merged newest first.
struct CoordinatorEventRoutes {
    let coordinator: Coordinator
    let limits: APILimits

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/events") { request, _ -> Response in
            try await coordinator.ingest(IngestRequest.events(of: request, limits: limits))
            return Response(status: .noContent)
        }
        router.get("/api/v1/events") { request, _ -> Response in
            let filter = try EventListing.filter(request.uri.queryParameters)
            let lists = try await coordinator.gather("/internal/v1/events?" + (request.uri.query ?? ""))
            let merged = lists.flatMap { $0.arrayValue ?? [] }.sorted { a, b in
                let (ta, tb) = (CoordinatorEventRoutes.time(a, "event", "time"), CoordinatorEventRoutes.time(b, "event", "time"))
                if ta != tb { return ta > tb }
                return CoordinatorEventRoutes.time(a, "ingestedAt") > CoordinatorEventRoutes.time(b, "ingestedAt")
            }
            return Response.json(.array(Array(merged.prefix(filter.limit))))
        }
    }

    private static func time(_ item: JSONValue, _ path: String...) -> Int64 {
        var value: JSONValue? = item
        for key in path { value = value?[key] }
        return value?.stringValue.flatMap { Timestamp(rfc3339: $0) }?.micros ?? .min
    }
}
