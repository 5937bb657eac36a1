import TallyCore

extension Coordinator {
    /// A worker that has not answered once since the coordinator started is failed over only after this long, so the
    /// workers of a cluster starting on a busy machine are not failed over for starting slowly.
    static let startupFailoverGrace = Duration.seconds(60)

    /// Fails over every `down` worker that still holds slots, unless it has not answered once since the coordinator
    /// started less than `startupFailoverGrace` ago (the probe loop runs this after each round).
    func failOverDownWorkers() async {
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

    /// The workers that may receive copies: up, and not lost.
    var replicaCandidates: Set<String> {
        let lost = state.snapshot.lostWorkers
        return Set(health.filter { $0.value.state == .up && !lost.contains($0.key) }.keys)
    }
}
