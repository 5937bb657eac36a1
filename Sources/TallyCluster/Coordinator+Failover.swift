import TallyCore

extension Coordinator {
    /// A worker that has not answered once since the coordinator started is failed over only after this long, so the
    /// workers of a cluster starting on a busy machine are not failed over for starting slowly.
    static let startupFailoverGrace = Duration.seconds(60)

    /// Cancels a repair whose receiving worker is down, then fails over every `down` worker that still holds slots,
    /// unless it has not answered once since the coordinator started less than `startupFailoverGrace` ago (the probe
    /// loop runs this after each round).
    func failOverDownWorkers() async {
        if let move = state.snapshot.move, move.plan.kind == .repair, health[move.plan.worker]?.state == .down {
            do {
                try await state.cancelRepair(move.id)
                logger.warning(
                    "repair cancelled: its worker is down",
                    metadata: ["move": "\(move.id)", "worker": "\(move.plan.worker)"])
                await pushAll()
                moveRequested.yield()
            } catch {
                logger.error("cancelling a repair failed", metadata: ["move": "\(move.id)", "error": "\(error)"])
            }
        }
        let holders = Set(state.snapshot.table.holders)
        let graceOver = ContinuousClock.now - startedAt >= Coordinator.startupFailoverGrace
        for (worker, health) in self.health.sorted(by: { $0.key < $1.key })
        where health.state == .down && holders.contains(worker) && (health.detector.hasAnswered || graceOver) {
            await failOver(worker)
        }
    }

    /// Fails `worker` over when other workers hold copies of its slots (`CoordinatorState.failOver`; nothing happens
    /// otherwise): the new table goes to every worker (a replica that becomes primary promotes its copy first), and
    /// the mover rebuilds the missing copies.
    func failOver(_ worker: String) async {
        do {
            guard let table = try await state.failOver(worker) else { return }
            logger.warning(
                "worker failed over: its replicas are promoted",
                metadata: ["worker": "\(worker)", "epoch": "\(table.epoch)"])
            await pushAll()
            moveRequested.yield()
        } catch {
            logger.error("failover failed", metadata: ["worker": "\(worker)", "error": "\(error)"])
        }
    }

    /// The workers that may receive copies: up, still in the cluster, not lost, and not deleting copies that
    /// anti-entropy dropped.
    var replicaCandidates: Set<String> {
        let snapshot = state.snapshot
        let recopying = self.recopying.withLock { $0 }
        return Set(
            health.filter { name, health in
                health.state == .up && snapshot.workerURLs[name] != nil && !snapshot.lostWorkers.contains(name)
                    && !recopying.contains(name)
            }.keys)
    }
}
