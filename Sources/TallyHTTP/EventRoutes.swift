import Hummingbird
import TallyCore
import TallyStore

/// `POST /api/v1/events` (ingest) and `GET /api/v1/events` (list).
struct EventRoutes {
    let store: ShardStore
    let limits: APILimits

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/events") { request, _ -> Response in
            try await store.ingest(IngestRequest.events(of: request, limits: limits))
            return Response(status: .noContent)
        }
        router.get("/api/v1/events") { request, _ -> Response in
            Response.json(EventListing.json(try await store.listEvents(EventListing.filter(request.uri.queryParameters))))
        }
    }
}
