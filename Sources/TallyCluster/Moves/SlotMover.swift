import AsyncHTTPClient
import Logging
import ServiceLifecycle
import TallyCore
import TallyHTTP

/// Why a step of a move failed; the mover retries the step after `SlotMover.retryInterval`.
public enum SlotMoveError: Error, Sendable {
    /// The joining worker could not pull a chunk from a source.
    case pullFailed(source: String, status: Int, detail: String)
    /// A source did not delete the slots it gave up.
    case deleteFailed(source: String, status: Int, detail: String)
    /// The move names a worker the coordinator has no address for.
    case unknownWorker(String)
    /// The move is no longer the coordinator's current one: it was cancelled.
    case cancelled
}

/// Runs the move of slots onto a joining worker, or of replicas onto a worker (a repair: no source gives anything up,
/// so it ends after the switch-over), one move at a time, resumes an unfinished one when the coordinator starts, and
/// plans repairs while slots lack copies (`keepReplicated`). Each step is durable and can be repeated: the joining
/// worker pulls chunks of each source's slots (its cursor makes a chunk installed twice count once) until it is within
/// one chunk of the source; then the target table becomes the cluster's (`CoordinatorState.switchOver`): every worker
/// gets it, so sources refuse writes to the slots they gave up, while the coordinator holds writes to those slots and
/// queries; the last events are pulled (`CoordinatorState.startCleaning` marks that the move can no longer be
/// cancelled); the sources delete what they gave up, and the move is done.
public struct SlotMover: Service {
    /// Pause before a failed step is tried again.
    public static let retryInterval = Duration.seconds(1)
    /// Longest wait for one pull or delete a worker runs for a move.
    public static let stepTimeout = Duration.seconds(600)

    let coordinator: Coordinator
    let logger: Logger

    public init(coordinator: Coordinator, logger: Logger) {
        self.coordinator = coordinator
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await work()
            for await _ in coordinator.moveRequests { await work() }
        }
    }

    /// Runs the unfinished move, then what keeps the slots replicated, marked busy meanwhile (`settling` in
    /// `GET /api/v1/cluster`).
    private func work() async {
        coordinator.moverBusy.withLock { $0 = true }
        await runUnfinished()
        await keepReplicated()
        coordinator.moverBusy.withLock { $0 = false }
    }

    /// Empties the lost workers that are up again, then runs repairs until every slot has
    /// `cluster.replicationFactor` copies or no worker up can take the missing ones; while a worker is being drained,
    /// runs the drain's repairs and then the drain.
    func keepReplicated() async {
        for worker in coordinator.state.snapshot.lostWorkers.sorted()
        where coordinator.health[worker]?.state == .up && !Task.isCancelled {
            do {
                try await empty(worker)
                try await coordinator.state.markEmptied(worker)
                logger.info("lost worker emptied; it may hold copies again", metadata: ["worker": "\(worker)"])
            } catch {
                logger.warning("emptying a lost worker failed", metadata: ["worker": "\(worker)", "error": "\(error)"])
            }
        }
        while !Task.isCancelled, coordinator.state.snapshot.move == nil {
            do {
                if try await dropExcessReplicas() { continue }
                guard let move = try await planNextStep() else { return }
                logger.info(
                    move.plan.kind == .drain
                        ? "drain planned: switching to the table without the worker"
                        : "repair planned: copying replicas",
                    metadata: [
                        "move": "\(move.id)", "worker": "\(move.plan.worker)",
                        "slots": "\(move.plan.movingSlots.count)",
                    ])
                await runUnfinished()
            } catch {
                logger.warning("planning a repair failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }

    /// The next repair, or the next step of the drain when a worker is being drained (its copies are taken from the
    /// live workers, the draining one included, and go to the other candidates); once no slot lacks a copy and every
    /// worker is up, a repair that evens out the replicas (`SlotMovePlan.balancing`: a worker just added holds none).
    private func planNextStep() async throws -> SlotMove? {
        let factor = coordinator.settings.replicationFactor
        let candidates = coordinator.replicaCandidates
        guard let drain = coordinator.state.snapshot.drain else {
            if let repair = try await coordinator.state.planRepair(factor: factor, candidates: candidates) {
                return repair
            }
            let table = coordinator.state.snapshot.table
            guard everyWorkerServes, SlotPlanner.excessReplicas(table, factor: factor).isEmpty else { return nil }
            return try await coordinator.state.planBalance(candidates: candidates)
        }
        let sources = candidates.union(coordinator.health[drain.worker]?.state == .up ? [drain.worker] : [])
        return try await coordinator.state.planDrainStep(factor: factor, candidates: candidates, sources: sources)
    }

    /// Whether every worker of the cluster is up, none is lost, being drained or deleting copies: only then are
    /// replicas evened out or trimmed.
    private var everyWorkerServes: Bool {
        let snapshot = coordinator.state.snapshot
        return snapshot.drain == nil && snapshot.lostWorkers.isEmpty
            && Set(snapshot.workerURLs.keys) == coordinator.replicaCandidates
    }

    /// Drops the replicas a balancing repair made extra (`SlotPlanner.excessReplicas`) when every worker serves;
    /// whether it dropped any.
    private func dropExcessReplicas() async throws -> Bool {
        guard everyWorkerServes else { return false }
        let table = coordinator.state.snapshot.table
        let excess = SlotPlanner.excessReplicas(table, factor: coordinator.settings.replicationFactor)
        guard !excess.isEmpty else { return false }
        logger.info(
            "dropping replicas a balancing repair replaced",
            metadata: ["replicas": "\(excess.values.reduce(0) { $0 + $1.count })"])
        return try await coordinator.dropCopies(excess, epoch: table.epoch)
    }

    /// Deletes from each store of the lost `worker` every slot it does not hold there at the current epoch (it holds
    /// only slots that had no other copy when it was lost: those it keeps).
    private func empty(_ worker: String) async throws {
        let snapshot = coordinator.state.snapshot
        guard let url = snapshot.workerURLs[worker] else { throw SlotMoveError.unknownWorker(worker) }
        if case .failure(let failure) = await coordinator.push(worker) { throw failure }
        let table = snapshot.table
        for store in SlotRole.allCases {
            let slots = (0..<table.slotCount).filter { table.role(of: worker, slot: $0) != store }
            try await delete(slots, of: store, at: url, worker: worker)
        }
    }

    /// Deletes `slots` from the `store` of `worker` (at `url`), which holds none of them there.
    private func delete(_ slots: [Int], of store: SlotRole, at url: String, worker: String) async throws {
        guard !slots.isEmpty else { return }
        let body: JSONValue = .object([
            "slots": .array(slots.map { .number(String($0)) }),
            "slotCount": .number(String(coordinator.state.snapshot.table.slotCount)),
            "store": .string(store.rawValue),
        ])
        let reply = try await coordinator.client.send(
            .POST, baseURL: url, path: "/internal/v1/slots/delete", body: JSONWriter.string(body),
            timeout: SlotMover.stepTimeout)
        guard reply.status == 200 else {
            throw SlotMoveError.deleteFailed(source: worker, status: reply.status, detail: reply.detail)
        }
    }

    /// Runs steps until no move is unfinished (or the task is cancelled).
    func runUnfinished() async {
        while let move = coordinator.state.snapshot.move, !Task.isCancelled {
            do {
                try await step(move)
            } catch SlotMoveError.cancelled {
                logger.info("move stopped: it was cancelled", metadata: ["move": "\(move.id)"])
            } catch {
                logger.warning(
                    "a step of the move failed; trying again",
                    metadata: ["move": "\(move.id)", "phase": "\(move.phase.rawValue)", "error": "\(error)"])
                try? await Task.sleep(for: SlotMover.retryInterval)
            }
        }
    }

    private func step(_ move: SlotMove) async throws {
        switch move.phase {
        case .copying where move.plan.kind == .drain:
            // The repairs before it copied everything; every later write reached those copies.
            try await coordinator.state.switchOver()
            logger.info("drain switching over", metadata: ["move": "\(move.id)", "epoch": "\(move.plan.target.epoch)"])
        case .switching where move.plan.kind == .drain:
            // The new owners promote their replicas as they take the table (one that is down meanwhile is failed over);
            // the leaving worker gets a table where it holds nothing, so it refuses every request.
            let snapshot = coordinator.state.snapshot
            try await coordinator.customerLocks.withLocks(move.plan.movingSlots) {
                for owner in Set(move.plan.movingSlots.map { snapshot.table.owners[$0] }).sorted()
                where coordinator.health[owner]?.state != .down {
                    if case .failure(let failure) = await coordinator.push(owner) { throw failure }
                }
            }
            let worker = move.plan.worker
            let url = snapshot.workerURLs[worker]
            if coordinator.health[worker]?.state != .down { _ = await coordinator.push(worker) }
            try await coordinator.state.finishDrain()
            coordinator.forget(worker)
            await coordinator.pushAll()
            // Queries and writes go on meanwhile: the worker is out of the cluster.
            if let url, coordinator.health[worker]?.state != .down {
                do {
                    for store in SlotRole.allCases {
                        try await delete(Array(0..<snapshot.table.slotCount), of: store, at: url, worker: worker)
                    }
                } catch {
                    logger.warning(
                        "the drained worker could not be emptied: stop it and delete its data folder",
                        metadata: ["worker": "\(worker)", "error": "\(error)"])
                }
            }
            logger.notice(
                "worker drained: it left the cluster", metadata: ["move": "\(move.id)", "worker": "\(worker)"])
        case .copying:
            // The switch-over starts once every source is at most one chunk's worth of positions ahead of the copy,
            // so writes to the moving slots and queries wait for about one pull per source.
            let lag = Int64(coordinator.settings.moveChunkEvents)
            for source in move.plan.sources { try await copy(move, from: source, lag: lag) }
            guard coordinator.state.snapshot.move?.id == move.id else { throw SlotMoveError.cancelled }
            try await coordinator.state.switchOver()
            logger.info("move switching over", metadata: ["move": "\(move.id)", "epoch": "\(move.plan.target.epoch)"])
        case .switching:
            try await coordinator.customerLocks.withLocks(move.plan.movingSlots) {
                for worker in move.plan.sources + [move.plan.worker] {
                    if case .failure(let failure) = await coordinator.push(worker) { throw failure }
                }
                for source in move.plan.sources {
                    try await copy(move, from: source, lag: 0)
                    try await copyCustomerState(move, from: source)
                }
            }
            guard coordinator.state.snapshot.move?.id == move.id else { throw SlotMoveError.cancelled }
            if move.plan.kind == .repair {
                // Nobody gave anything up: nothing to clean.
                try await coordinator.state.finishMove()
                await coordinator.pushAll()
                logger.info("repair done", metadata: ["move": "\(move.id)", "worker": "\(move.plan.worker)"])
                return
            }
            try await coordinator.state.startCleaning()
            logger.info("move cleaning up", metadata: ["move": "\(move.id)"])
        case .cleaning:
            // A source lost meanwhile holds nothing any more: it is emptied before it holds anything again.
            let lost = coordinator.state.snapshot.lostWorkers
            for source in move.plan.sources where !lost.contains(source) { try await delete(move, at: source) }
            try await coordinator.state.finishMove()
            await coordinator.pushAll()
            logger.info("move done", metadata: ["move": "\(move.id)", "worker": "\(move.plan.worker)"])
        case .done, .cancelled:
            return
        }
    }

    /// Pulls chunks of `source`'s moving slots onto the joining worker until the copy is at most `lag` positions
    /// behind the source, recording each pull.
    private func copy(_ move: SlotMove, from source: String, lag: Int64) async throws {
        let snapshot = coordinator.state.snapshot
        guard let sourceURL = snapshot.workerURLs[source] else { throw SlotMoveError.unknownWorker(source) }
        var progress = snapshot.move?.progress[source] ?? SlotMove.Progress()
        let slots = move.plan.slotsBySource[source] ?? []
        while true {
            guard coordinator.state.snapshot.move?.id == move.id else { throw SlotMoveError.cancelled }
            let body: JSONValue = .object([
                "worker": .string(move.plan.worker), "source": .string(sourceURL),
                "slots": .array(slots.map { .number(String($0)) }),
                "slotCount": .number(String(move.plan.target.slotCount)),
                "after": .number(String(progress.copiedThrough)), "cursor": .string(move.cursor(source: source)),
                "maxEvents": .number(String(coordinator.settings.moveChunkEvents)),
                "store": .string(move.plan.kind == .repair ? SlotRole.replica.rawValue : SlotRole.primary.rawValue),
            ])
            let reply = try await coordinator.client.send(
                .POST, baseURL: move.url, path: "/internal/v1/slots/pull", body: JSONWriter.string(body),
                timeout: SlotMover.stepTimeout)
            guard reply.status == 200, let json = reply.json, let through = json["through"]?.int64,
                let position = json["sourcePosition"]?.int64, let installed = json["installed"]?.int64,
                let bytes = json["bytes"]?.int64
            else { throw SlotMoveError.pullFailed(source: source, status: reply.status, detail: reply.detail) }
            progress.copiedThrough = max(progress.copiedThrough, through)
            progress.sourcePosition = position
            progress.events += installed
            progress.bytes += bytes
            try await coordinator.state.recordCopy(source: source, progress: progress)
            if position - progress.copiedThrough <= lag { return }
        }
    }

    /// Most slots whose customer state one request of a move carries (each request reads the source's per-customer
    /// tables once; their rows for these slots travel in one body of at most `CustomerStateRoutes.maxStateBytes`).
    static let customerStateSlotsPerCopy = 64

    /// Copies the customer state of `source`'s moving slots from its primary store to the joining worker's store
    /// (its replica store for a repair), `customerStateSlotsPerCopy` slots at a time, replacing whatever that store
    /// held of them.
    private func copyCustomerState(_ move: SlotMove, from source: String) async throws {
        guard let sourceURL = coordinator.state.snapshot.workerURLs[source] else { return }
        let slots = (move.plan.slotsBySource[source] ?? []).sorted()
        let slotCount = move.plan.target.slotCount
        let store = move.plan.kind == .repair ? SlotRole.replica : SlotRole.primary
        for start in stride(from: 0, to: slots.count, by: SlotMover.customerStateSlotsPerCopy) {
            let part = slots[start..<min(slots.count, start + SlotMover.customerStateSlotsPerCopy)]
            let read = try await coordinator.client.send(
                .GET, baseURL: sourceURL,
                path: "/internal/v1/customer-state?slots=\(part.map(String.init).joined(separator: ","))"
                    + "&slotCount=\(slotCount)&store=primary", timeout: SlotMover.stepTimeout)
            guard read.status == 200 else {
                throw SlotMoveError.pullFailed(source: source, status: read.status, detail: read.detail)
            }
            let installed = try await coordinator.client.send(
                .PUT, baseURL: move.url, path: "/internal/v1/customer-state?store=\(store.rawValue)",
                body: String(buffer: read.body), timeout: SlotMover.stepTimeout)
            guard installed.status == 200 else {
                throw SlotMoveError.pullFailed(source: source, status: installed.status, detail: installed.detail)
            }
        }
    }

    private func delete(_ move: SlotMove, at source: String) async throws {
        guard let url = coordinator.state.snapshot.workerURLs[source] else { throw SlotMoveError.unknownWorker(source) }
        let body: JSONValue = .object([
            "slots": .array((move.plan.slotsBySource[source] ?? []).map { .number(String($0)) }),
            "slotCount": .number(String(move.plan.target.slotCount)),
        ])
        let reply = try await coordinator.client.send(
            .POST, baseURL: url, path: "/internal/v1/slots/delete", body: JSONWriter.string(body),
            timeout: SlotMover.stepTimeout)
        guard reply.status == 200 else {
            throw SlotMoveError.deleteFailed(source: source, status: reply.status, detail: reply.detail)
        }
    }
}

extension JSONValue {
    /// A JSON number that is an Int64.
    fileprivate var int64: Int64? {
        if case .number(let text) = self { Int64(text) } else { nil }
    }
}
