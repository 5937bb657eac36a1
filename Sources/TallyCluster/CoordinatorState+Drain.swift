import GRDB
import TallyCore

extension CoordinatorState {
    /// Records that `worker` is to be drained (or returns its drain when it already is): the mover copies its slots
    /// to the other workers, then switches to the table without it and removes it. Refused for an unknown worker,
    /// the only worker, and while another worker is being drained.
    public func startDrain(of worker: String) async throws -> WorkerDrain {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard snapshot.workerURLs[worker] != nil else { throw RemovalRefusal.unknownWorker(worker) }
            if let drain = snapshot.drain {
                guard drain.worker == worker else {
                    throw RemovalRefusal.drainInProgress(worker: drain.worker, drainID: drain.id)
                }
                return drain
            }
            guard snapshot.workerURLs.count > 1 else { throw RemovalRefusal.lastWorker(worker) }
            let drain = WorkerDrain(id: ULID.make(time: .now), worker: worker, startedAt: .now)
            try db.execute(
                sql: "UPDATE workers SET drain_id = ?, drain_started_us = ? WHERE name = ?",
                arguments: [drain.id, drain.startedAt.micros, worker])
            snapshot.drain = drain
            self.publish(snapshot, onCommitOf: db)
            return drain
        }
    }

    /// Writes and publishes the next step of the drain (`SlotMovePlan.draining` towards `factor` copies, copies going
    /// only to `candidates`, taken from owners in `sources`); nil when there is no drain, a move is unfinished, or
    /// copies are missing that no source can give now.
    public func planDrainStep(factor: Int, candidates: Set<String>, sources: Set<String>) async throws -> SlotMove? {
        try await plan { snapshot in
            guard let drain = snapshot.drain else { return nil }
            return SlotMovePlan.draining(
                drain.worker, from: snapshot.table, factor: factor,
                candidates: candidates.subtracting(snapshot.lostWorkers).subtracting([drain.worker]), sources: sources)
        }
    }

    /// Ends the current drain move: the move is done and its worker leaves the cluster (its row stays, marked
    /// removed, so that a worker the configuration seeded the cluster with is still recognised).
    public func finishDrain() async throws {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard let move = snapshot.move, move.plan.kind == .drain else { return }
            try db.execute(
                sql: "UPDATE moves SET phase = 'done', finished_us = ? WHERE id = ?",
                arguments: [Timestamp.now.micros, move.id])
            try db.execute(
                sql: "UPDATE workers SET removed = 1, drain_id = NULL, lost = 0, assigned = 0 WHERE name = ?",
                arguments: [move.plan.worker])
            snapshot.move = nil
            snapshot.drain = nil
            snapshot.workerURLs[move.plan.worker] = nil
            snapshot.lostWorkers.remove(move.plan.worker)
            snapshot.assignedWorkers.remove(move.plan.worker)
            self.publish(snapshot, onCommitOf: db)
        }
    }
}
