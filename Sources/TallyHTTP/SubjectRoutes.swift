import Hummingbird
import TallyCore
import TallyStore

/// `GET /api/v1/subjects`: every subject seen in events (upstream `Subject`).
struct SubjectRoutes {
    let store: ShardStore

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/subjects") { _, _ -> Response in
            Response.json(SubjectListing.json(try await store.subjects()))
        }
    }

}
