import Hummingbird
import TallyConfiguration
import TallyCore
import TallyHTTP

/// `GET /api/v1/cluster`: workers, slots, epoch and the move in progress; `POST /api/v1/cluster/workers`: add a
/// worker online; `DELETE /api/v1/cluster/workers/{name}`: remove one (undo an addition that has not reached its
/// clean-up, or drain the worker). Tally's additions, served by a coordinator only.
struct ClusterStatusRoutes {
    let coordinator: Coordinator
    /// Largest body of `POST /api/v1/cluster/workers`, in bytes.
    static let maxAddWorkerBodyBytes = 16 * 1024

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/cluster") { _, _ in Response.json(status) }
        router.delete("/api/v1/cluster/workers/:name") { _, context -> Response in
            let name = context.parameters.get("name") ?? ""
            do {
                switch try await coordinator.removeWorker(name) {
                case .cancelled(let move): return Response.json(move.json())
                case .draining(let drain):
                    return Response.json(drain.json(in: coordinator.state.snapshot), status: .accepted)
                }
            } catch let refusal as CoordinatorState.RemovalRefusal {
                throw refusal.problem
            }
        }
        router.post("/api/v1/cluster/workers") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: ClusterStatusRoutes.maxAddWorkerBodyBytes)
            var errors: [FieldError] = []
            let name = body["name"]?.stringValue
            let url = body["url"]?.stringValue
            if name == nil { errors.append(FieldError(field: "name", reason: "must be the new worker's name")) }
            if url == nil { errors.append(FieldError(field: "url", reason: "must be the new worker's https:// URL")) }
            guard let name, let url else { throw Problem.invalid("the worker to add is incomplete", errors) }
            do {
                let move = try await coordinator.addWorker(name, url: url)
                return Response.json(move.json(), status: .accepted)
            } catch let refusal as CoordinatorState.AdditionRefusal {
                throw refusal.problem
            }
        }
    }

    var status: JSONValue {
        let snapshot = coordinator.state.snapshot
        let health = coordinator.health
        let counts = snapshot.table.slotCounts
        let replicaCounts = snapshot.table.replicaCounts
        func number<T: BinaryInteger>(_ value: T?) -> JSONValue { value.map { .number(String($0)) } ?? .null }
        let workers: [JSONValue] = snapshot.workers.map { name in
            let worker = health[name] ?? WorkerHealth(settings: coordinator.settings)
            return .object([
                "name": .string(name), "address": .string(snapshot.workerURLs[name] ?? ""),
                "state": .string(worker.state.rawValue), "slots": number(counts[name] ?? 0),
                "replicas": number(replicaCounts[name] ?? 0), "lost": .bool(snapshot.lostWorkers.contains(name)),
                "draining": .bool(snapshot.drain?.worker == name),
                "silentSince": worker.detector.silentSince.map { .string($0.description) } ?? .null,
                "eventsStored": number(worker.eventsStored),
                "replicaEventsStored": number(worker.replicaEventsStored), "epoch": number(worker.epoch),
                "catalogVersion": number(worker.catalogVersion), "checkedAt": .string(worker.checkedAt.description),
                "error": worker.error.map(JSONValue.string) ?? .null,
            ])
        }
        return .object([
            "epoch": number(snapshot.table.epoch), "slotCount": number(snapshot.table.slotCount),
            "catalogVersion": number(snapshot.catalogVersion), "workers": .array(workers),
            "replicationFactor": number(coordinator.settings.replicationFactor),
            "minimumCopies": number(snapshot.table.minimumCopies),
            "move": snapshot.move?.json() ?? .null, "drain": snapshot.drain?.json(in: snapshot) ?? .null,
            "settling": .bool(coordinator.moverBusy.withLock { $0 }),
            "antiEntropy": coordinator.antiEntropyStatus.json(
                intervalMs: coordinator.settings.antiEntropyIntervalMs,
                slotsPerRound: coordinator.settings.antiEntropySlotsPerRound),
        ])
    }
}

extension CoordinatorState.RemovalRefusal {
    /// 404 for a worker the cluster does not have, 409 for one that cannot be removed now.
    var problem: Problem {
        switch self {
        case .unknownWorker(let name):
            Problem(
                .notFound, type: "urn:tally:problem:worker-not-found",
                detail: "the cluster has no worker \(name.echoed)")
        case .tooLate(let id):
            Problem(
                .conflict, type: "urn:tally:problem:move-too-far",
                detail: "move \(id) is cleaning up: the other workers are deleting the slots they gave up, so its "
                    + "addition can no longer be undone; wait until GET /api/v1/cluster shows it done",
                extensions: ["move": .string(id)])
        case .drainInProgress(let worker, let id):
            Problem(
                .conflict, type: "urn:tally:problem:drain-in-progress",
                detail: "worker \(worker) is being drained (drain \(id)); drain the next worker when GET "
                    + "/api/v1/cluster no longer lists it",
                extensions: ["drain": .string(id)])
        case .lastWorker(let name):
            Problem(
                .conflict, type: "urn:tally:problem:last-worker",
                detail: "worker \(name) is the cluster's only worker: no other worker could keep its slots")
        }
    }
}

extension CoordinatorState.AdditionRefusal {
    /// 400 for an invalid name or URL, 409 when the worker exists or another move runs.
    var problem: Problem {
        switch self {
        case .invalidName(let name):
            Problem.invalidField(
                "name", "must be 1-64 letters, digits, '.', '_' or '-' (not \"coordinator\"); got \"\(name.echoed)\"")
        case .invalidURL:
            Problem.invalidField("url", "must be an https:// URL of at most 2048 bytes (workers use mutual TLS)")
        case .urlTaken(let holder):
            Problem(
                .conflict, type: "urn:tally:problem:url-taken",
                detail: "worker \(holder) of the cluster is reached at this URL",
                errors: [FieldError(field: "url", reason: "is worker \(holder)'s")])
        case .workerUnusable(let reason):
            Problem(
                .conflict, type: "urn:tally:problem:worker-unusable", detail: reason,
                errors: [FieldError(field: "url", reason: "must reach a new, empty worker of this name")])
        case .workerExists(let name):
            Problem(
                .conflict, type: "urn:tally:problem:worker-exists", detail: "the cluster already has a worker \(name)",
                errors: [FieldError(field: "name", reason: "is taken")])
        case .moveInProgress(let id):
            Problem(
                .conflict, type: "urn:tally:problem:move-in-progress",
                detail: "move \(id) is still running; add the next worker when GET /api/v1/cluster shows it done",
                extensions: ["move": .string(id)])
        }
    }
}
