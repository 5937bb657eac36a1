import Hummingbird
import TallyCore
import TallyHTTP

/// `GET /api/v1/cluster`: workers, slots, epoch (Tally's addition, served by a coordinator only).
struct ClusterStatusRoutes {
    let coordinator: Coordinator

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/cluster") { _, _ in Response.json(status) }
    }

    var status: JSONValue {
        let snapshot = coordinator.state.snapshot
        let health = coordinator.health
        let counts = snapshot.table.slotCounts
        func number<T: BinaryInteger>(_ value: T?) -> JSONValue { value.map { .number(String($0)) } ?? .null }
        let workers: [JSONValue] = snapshot.workers.map { name in
            let worker = health[name] ?? .unknown()
            return .object([
                "name": .string(name), "address": .string(snapshot.workerURLs[name] ?? ""),
                "state": .string(worker.up ? "up" : "down"), "slots": number(counts[name] ?? 0),
                "eventsStored": number(worker.eventsStored), "epoch": number(worker.epoch),
                "catalogVersion": number(worker.catalogVersion), "checkedAt": .string(worker.checkedAt.description),
                "error": worker.error.map(JSONValue.string) ?? .null,
            ])
        }
        return .object([
            "epoch": number(snapshot.table.epoch), "slotCount": number(snapshot.table.slotCount),
            "catalogVersion": number(snapshot.catalogVersion), "workers": .array(workers),
        ])
    }
}
