import AsyncHTTPClient
import Logging
import NIOHTTP1
import Synchronization
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore

/// The coordinator's engine: routes requests to the workers owning the slots they touch, keeps workers'
/// assignments current, and tracks their health. Fenced requests (409) get one refresh and one retry.
public final class Coordinator: Sendable {
    public let state: CoordinatorState
    let client: WorkerClient
    let logger: Logger
    private let healthByWorker: Mutex<[String: WorkerHealth]>
    /// Per worker: parts of concurrent batches waiting to be forwarded together (made for a worker when first used).
    private let forwarders: Mutex<[String: GroupCommitter<ForwardedPart>]>
    /// Signals `SlotMover` that a move was planned, or that copies may need a repair (a failover, a worker up).
    let moveRequests: AsyncStream<Void>
    let moveRequested: AsyncStream<Void>.Continuation
    let settings: ClusterSettings
    /// Longest wait of a request for a move's switch-over (writes to moving slots, queries) before it is refused
    /// with 503 `slots-moving`.
    static let maxFenceWait = Duration.seconds(60)
    /// How often a waiting request looks whether the switch-over is over.
    static let fencePollInterval = Duration.milliseconds(20)
    /// Times a batch part a worker fenced because its slots moved is routed again by the current table.
    static let maxReroutes = 3
    /// Retries of a request a worker fenced (409), each after pushing the worker its assignment.
    static let maxRetriesAfterRefresh = 1
    /// Longest wait for a probe's answer: the probe interval, at least one second, at most `forwardTimeoutMs`.
    let probeTimeout: Duration
    /// When this coordinator started (`startupFailoverGrace` counts from it).
    let startedAt = ContinuousClock.now
    /// Holds writes to the slots an anti-entropy round compares.
    let writeGate = WriteGate()
    /// Serializes per-customer writes (and the copies of their state) per slot, and keeps them out of switch-overs.
    let customerLocks = SlotLocks()
    /// Slots whose customer state did not reach every replica after a write: copied again each probe round.
    let pendingCustomerCopies = Mutex(Set<Int>())
    let antiEntropyStatusLock = Mutex(AntiEntropyStatus())
    /// Whether `SlotMover` is running or planning moves, repairs or drops (false while it waits for a request).
    let moverBusy = Mutex(false)
    /// Workers deleting copies anti-entropy dropped: they receive no repair until the deletes are done.
    let recopying = Mutex(Set<String>())

    public init(state: CoordinatorState, client: WorkerClient, settings: ClusterSettings, logger: Logger) {
        self.state = state
        self.client = client
        self.logger = logger
        self.settings = settings
        let workers = state.snapshot.workers
        probeTimeout = .milliseconds(min(max(settings.workerProbeIntervalMs, 1000), settings.forwardTimeoutMs))
        healthByWorker = Mutex(
            Dictionary(uniqueKeysWithValues: workers.map { ($0, WorkerHealth(settings: settings)) }))
        forwarders = Mutex([:])
        (moveRequests, moveRequested) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Plans adding `worker` (reached at `url`) and lets `SlotMover` run the move; the planned move. The process at
    /// `url` must answer with that name (its certificate's), no slot table and no events: a wrong URL must never
    /// make a worker of the cluster receive slots it would then count twice.
    public func addWorker(_ worker: String, url: String) async throws -> SlotMove {
        let base = try CoordinatorState.checkedAddition(worker: worker, url: url)
        try state.checkAddition(worker: worker, base: base)
        let reply: WorkerReply
        do {
            reply = try await client.send(
                .GET, baseURL: base, path: "/internal/v1/assignment", timeout: probeTimeout, lane: .probes)
        } catch {
            throw CoordinatorState.AdditionRefusal.workerUnusable("\(base) did not answer: \(error)")
        }
        guard reply.status == 200, let json = reply.json else {
            throw CoordinatorState.AdditionRefusal.workerUnusable("\(base) answered \(reply.status): \(reply.detail)")
        }
        guard json["node"]?.stringValue == worker else {
            throw CoordinatorState.AdditionRefusal.workerUnusable(
                "the worker at \(base) is \(json["node"]?.stringValue.map { "\"\($0.echoed)\"" } ?? "unnamed"), "
                    + "not \(worker)")
        }
        guard json["epoch"] == .number("0"), json["events"] == .number("0"), json["replicaEvents"] == .number("0")
        else {
            throw CoordinatorState.AdditionRefusal.workerUnusable(
                "the worker at \(base) already holds a slot table or events; a joining worker starts empty")
        }
        let move = try await state.planAddition(worker: worker, url: base)
        moveRequested.yield()
        return move
    }

    /// What removing a worker did.
    public enum WorkerRemoval: Sendable {
        /// The worker was being added: its addition was undone (`CoordinatorState.cancelAddition`).
        case cancelled(SlotMove)
        /// The worker is being drained (`CoordinatorState.startDrain`); `SlotMover` runs it.
        case draining(WorkerDrain)
    }

    /// Removes `worker` from the cluster: a worker whose addition is still copying or switching over is taken out at
    /// once (every worker then gets the current table); any other is drained.
    public func removeWorker(_ worker: String) async throws -> WorkerRemoval {
        if let move = try await state.cancelAddition(of: worker) {
            forget(worker)
            logger.notice("move cancelled", metadata: ["move": "\(move.id)", "worker": "\(worker)"])
            await pushAll()
            return .cancelled(move)
        }
        let drain = try await state.startDrain(of: worker)
        logger.notice("draining worker", metadata: ["drain": "\(drain.id)", "worker": "\(worker)"])
        moveRequested.yield()
        return .draining(drain)
    }

    /// Drops what the coordinator keeps in memory for `worker`, which left the cluster.
    func forget(_ worker: String) {
        healthByWorker.withLock { _ = $0.removeValue(forKey: worker) }
        forwarders.withLock { _ = $0.removeValue(forKey: worker) }
    }

    /// The group committer forwarding parts to `worker`.
    func forwarder(_ worker: String) -> GroupCommitter<ForwardedPart> {
        forwarders.withLock { all in
            if let forwarder = all[worker] { return forwarder }
            let forwarder = GroupCommitter<ForwardedPart>(
                maxBatchesPerCommit: settings.maxQueuedPartsPerWorker,
                maxQueuedBatches: settings.maxQueuedPartsPerWorker,
                maxBytesPerCommit: settings.maxForwardBodyBytes,
                maxInFlight: settings.maxForwardsInFlightPerWorker,
                bytes: { $0.texts.utf8.count })
            all[worker] = forwarder
            return forwarder
        }
    }

    /// The snapshot once `blocked` says nothing of it blocks the request (a move switching over), polled every
    /// `fencePollInterval`; throws `ClusterError.slotsMoving` after `maxFenceWait`.
    func snapshot(
        waitingWhile blocked: (ClusterSnapshot) -> Bool
    ) async throws(ClusterError) -> ClusterSnapshot {
        let deadline = ContinuousClock.now + Coordinator.maxFenceWait
        while true {
            let snapshot = state.snapshot
            guard blocked(snapshot) else { return snapshot }
            guard ContinuousClock.now < deadline else {
                throw .slotsMoving(moveID: snapshot.move?.id ?? "", waited: Coordinator.maxFenceWait)
            }
            try? await Task.sleep(for: Coordinator.fencePollInterval)
        }
    }

    public var health: [String: WorkerHealth] { healthByWorker.withLock { $0 } }

    /// Sends a fenced request to `worker`; on a 409 (stale epoch, foreign slot, catalog behind) pushes the
    /// worker its assignment and retries (`maxRetriesAfterRefresh`, once). Any other non-2xx answer, a timeout or a
    /// refused connection fails; so does, at once, a request for a worker that could not be reached since the last
    /// probe. A request planned on one table (`epoch`) is sent at that epoch and retried only while that is the
    /// cluster's epoch: otherwise it fails fenced and its caller plans it again.
    func call(
        _ worker: String, _ method: HTTPMethod, _ path: String, body: String? = nil,
        contentType: String = "application/json", epoch: Int64? = nil, headers extra: [(String, String)] = []
    ) async -> Result<WorkerReply, WorkerFailure> {
        if let known = health[worker], known.detector.refusesRequests {
            let since = known.detector.unreachableSince ?? known.detector.silentSince ?? known.checkedAt
            return .failure(
                WorkerFailure(
                    worker: worker, kind: .unreachable,
                    reason: "\(known.state == .down ? "down" : "unreachable") since \(since) "
                        + "(\(known.error ?? "unknown error")); it is probed again every workerProbeIntervalMs"))
        }
        for attempt in 0...Coordinator.maxRetriesAfterRefresh {
            let snapshot = state.snapshot
            guard let url = snapshot.workerURLs[worker] else {
                return .failure(WorkerFailure(worker: worker, kind: .unreachable, reason: "unknown worker"))
            }
            let headers =
                [
                    (WorkerHeaders.epoch.rawName, String(epoch ?? snapshot.table.epoch)),
                    (WorkerHeaders.catalog.rawName, String(snapshot.catalogVersion)),
                ] + extra
            let reply: WorkerReply
            do {
                reply = try await client.send(
                    method, baseURL: url, path: path, headers: headers, body: body, contentType: contentType)
            } catch {
                return .failure(transportFailure(worker, error))
            }
            if (200..<300).contains(reply.status) { return .success(reply) }
            guard reply.status == 409, attempt < Coordinator.maxRetriesAfterRefresh,
                epoch == nil || epoch == snapshot.table.epoch
            else {
                return .failure(
                    WorkerFailure(
                        worker: worker, kind: .refused(status: reply.status),
                        reason: "answered \(reply.status): \(reply.detail)", problem: reply.json))
            }
            logger.info(
                "worker fenced a request; refreshing its assignment",
                metadata: ["worker": "\(worker)", "detail": "\(reply.detail)"])
            if case .failure(let failure) = await push(worker) { return .failure(failure) }
        }
        return .failure(
            WorkerFailure(worker: worker, kind: .refused(status: 409), reason: "still fenced after a refresh"))
    }

    /// The failure for a request that got no answer: a timeout leaves its outcome unknown and says nothing of the
    /// worker's health (it may be busy); any other transport error means it never arrived, and the worker is
    /// unreachable (its requests fail at once) until a probe reaches it.
    func transportFailure(_ worker: String, _ error: any Error) -> WorkerFailure {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout {
            return WorkerFailure(
                worker: worker, kind: .timedOut,
                reason: "no answer within forwardTimeoutMs; it may have "
                    + "been applied")
        }
        record(.unreachable, for: worker, reason: "\(error)")
        return WorkerFailure(worker: worker, kind: .unreachable, reason: "unreachable: \(error)")
    }

    /// Sends `worker` its assignment (slot table and meter catalog). With replication, a worker that took an
    /// assignment before and holds slots must still have its table (`WorkerHeaders.expectTable`): one that lost it
    /// lost its data folder, so it is failed over first (its slots go to their replicas) and then gets the new table.
    func push(_ worker: String) async -> Result<Void, WorkerFailure> {
        for attempt in 0...1 {
            let snapshot = state.snapshot
            let expectTable =
                settings.replicationFactor > 1 && snapshot.assignedWorkers.contains(worker)
                && snapshot.table.holders.contains(worker)
            let result = await push(worker, snapshot: snapshot, expectTable: expectTable)
            guard case .failure(let failure) = result, attempt == 0,
                failure.problem?["type"] == .string(WorkerHeaders.tableLostProblem)
            else { return result }
            logger.error(
                "worker has no slot table although it took one: its data folder was lost",
                metadata: ["worker": "\(worker)"])
            // It answers, so it is up (it can be emptied and receive copies again), but it must not get its slots back.
            record(.answered, for: worker, reason: nil)
            await failOver(worker)
        }
        return .failure(WorkerFailure(worker: worker, kind: .refused(status: 409), reason: "lost its data folder"))
    }

    private func push(
        _ worker: String, snapshot: ClusterSnapshot, expectTable: Bool
    ) async -> Result<Void, WorkerFailure> {
        guard let url = snapshot.workerURLs[worker] else {
            return .failure(WorkerFailure(worker: worker, kind: .unreachable, reason: "unknown worker"))
        }
        do {
            let reply = try await client.send(
                .PUT, baseURL: url, path: "/internal/v1/assignment",
                headers: expectTable ? [(WorkerHeaders.expectTable.rawName, "true")] : [],
                body: JSONWriter.string(snapshot.assignment(for: worker)))
            guard reply.status == 204 else {
                return .failure(
                    WorkerFailure(
                        worker: worker, kind: .refused(status: reply.status),
                        reason: "refused its assignment (\(reply.status)): \(reply.detail)", problem: reply.json))
            }
            if !snapshot.assignedWorkers.contains(worker) { try? await state.markAssigned(worker) }
            return .success(())
        } catch {
            return .failure(transportFailure(worker, error))
        }
    }

    /// Pushes the assignment to every worker concurrently but those that are down: they catch up at their next probe.
    func pushAll() async {
        let health = self.health
        await withTaskGroup(of: Void.self) { group in
            for worker in state.snapshot.workers where health[worker]?.state != .down {
                group.addTask {
                    if case .failure(let failure) = await self.push(worker) {
                        self.logger.warning(
                            "worker will catch up later",
                            metadata: ["worker": "\(worker)", "reason": "\(failure.reason)"])
                    }
                }
            }
        }
    }

    /// Asks every worker for its state; pushes the assignment to those behind and records their health. Then fails
    /// over every `down` worker that still holds slots (`failOver`), unless it has not answered once since the
    /// coordinator started less than `startupFailoverGrace` ago.
    public func probeAll() async {
        let snapshot = state.snapshot
        await withTaskGroup(of: Void.self) { group in
            for (worker, url) in snapshot.workerURLs {
                group.addTask { await self.probe(worker, url: url, snapshot: snapshot) }
            }
        }
        await failOverDownWorkers()
        await retryCustomerCopies()
    }

    private func probe(_ worker: String, url: String, snapshot: ClusterSnapshot) async {
        let reply: WorkerReply
        let sent = Timestamp.now
        do {
            reply = try await client.send(
                .GET, baseURL: url, path: "/internal/v1/assignment", timeout: probeTimeout, lane: .probes)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return record(
                .timedOut, for: worker, reason: "no answer to a probe within \(probeTimeout)", sentAt: sent)
        } catch {
            return record(.unreachable, for: worker, reason: "\(error)", sentAt: sent)
        }
        guard reply.status == 200, let json = reply.json else {
            return record(
                .timedOut, for: worker, reason: "answered a probe with \(reply.status): \(reply.detail)", sentAt: sent)
        }
        func number(_ key: String) -> Int64? {
            if case .number(let text)? = json[key] { return Int64(text) } else { return nil }
        }
        var epoch = number("epoch")
        var catalogVersion = number("catalogVersion")
        var error: String?
        if epoch != snapshot.table.epoch || catalogVersion != snapshot.catalogVersion {
            if case .failure(let failure) = await push(worker) {
                error = failure.reason
            } else {
                logger.info(
                    "worker caught up",
                    metadata: [
                        "worker": "\(worker)", "epoch": "\(snapshot.table.epoch)",
                        "catalogVersion": "\(snapshot.catalogVersion)",
                    ])
                epoch = snapshot.table.epoch
                catalogVersion = snapshot.catalogVersion
            }
        }
        record(.answered, for: worker, reason: error) { health in
            health.eventsStored = number("events")
            health.replicaEventsStored = number("replicaEvents")
            health.epoch = epoch
            health.catalogVersion = catalogVersion
        }
    }

    /// Feeds `outcome` to `worker`'s failure detector (under the lock), then logs a change of its state.
    private func record(
        _ outcome: FailureDetector.Outcome, for worker: String, reason: String?, sentAt: Timestamp? = nil,
        update: (inout WorkerHealth) -> Void = { _ in }
    ) {
        let (before, after) = healthByWorker.withLock { all in
            var health = all[worker] ?? WorkerHealth(settings: settings)
            let before = health.state
            health.detector.record(outcome, at: .now, sentAt: sentAt)
            health.error = reason
            health.checkedAt = .now
            update(&health)
            all[worker] = health
            return (before, health.state)
        }
        guard before != after else { return }
        let metadata: Logger.Metadata = ["worker": "\(worker)", "reason": "\(reason ?? "answered")"]
        switch after {
        case .up:
            logger.info("worker is up", metadata: metadata)
            moveRequested.yield()
        case .suspect: logger.warning("worker is suspect", metadata: metadata)
        case .down: logger.error("worker is down", metadata: metadata)
        case .unknown: break
        }
    }

    /// Sends a request to each of `workers` concurrently (`body` gives each worker's body); the replies in
    /// worker order, and every failure.
    func fanOut(
        _ workers: [String], _ method: HTTPMethod, _ path: String, epoch: Int64? = nil,
        body: @escaping @Sendable (String) -> String? = { _ in nil }
    ) async -> (replies: [(String, WorkerReply)], failures: [WorkerFailure]) {
        var replies: [(String, WorkerReply)] = []
        var failures: [WorkerFailure] = []
        await withTaskGroup(of: (String, Result<WorkerReply, WorkerFailure>).self) { group in
            for worker in workers {
                group.addTask { (worker, await self.call(worker, method, path, body: body(worker), epoch: epoch)) }
            }
            for await (worker, result) in group {
                switch result {
                case .success(let reply): replies.append((worker, reply))
                case .failure(let failure): failures.append(failure)
                }
            }
        }
        return (replies.sorted { $0.0 < $1.0 }, failures.sorted { $0.worker < $1.worker })
    }

    /// Fans out to every worker owning slots, all at one epoch, and fails closed (`ClusterError.shardsUnavailable`)
    /// when any cannot answer. Waits while a move switches over; asks again when a worker has moved to a newer
    /// epoch meanwhile (`maxReroutes` times).
    func gather(_ path: String) async throws(ClusterError) -> [JSONValue] {
        var attempt = 0
        while true {
            let snapshot = try await snapshot(waitingWhile: \.queriesHeld)
            let table = snapshot.table
            let (replies, failures) = await fanOut(table.workers, .GET, path, epoch: table.epoch)
            if failures.contains(where: \.isFenced), attempt < Coordinator.maxReroutes {
                attempt += 1
                continue
            }
            return try Coordinator.answers(replies, failures, table: table)
        }
    }

    private static func answers(
        _ replies: [(String, WorkerReply)], _ failures: [WorkerFailure], table: SlotTable
    ) throws(ClusterError) -> [JSONValue] {
        guard failures.isEmpty else { throw .shardsUnavailable(failures, table: SlotTableSummary(table)) }
        var answers: [JSONValue] = []
        for (worker, reply) in replies {
            guard let json = reply.json else {
                throw .shardsUnavailable(
                    [
                        WorkerFailure(
                            worker: worker, kind: .refused(status: reply.status),
                            reason: "answered with invalid JSON")
                    ], table: SlotTableSummary(table))
            }
            answers.append(json)
        }
        return answers
    }
}
