import Hummingbird
import TallyStore

/// `GET /healthz` (the process answers) and `GET /readyz` (the store answers a read).
struct HealthRoutes {
    let store: ShardStore

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in Response.json(.object(["status": .string("ok")])) }
        router.get("/readyz") { _, _ -> Response in
            let events = try await store.eventCount()
            return Response.json(.object(["status": .string("ready"), "events": .number(String(events))]))
        }
    }
}
