import Synchronization
import TallyCore

extension Coordinator {
    /// What anti-entropy has done since this coordinator started.
    public var antiEntropyStatus: AntiEntropyStatus { antiEntropyStatusLock.withLock { $0 } }

    /// Records an anti-entropy round that compared `compared` slots and found `mismatches`.
    func recordAntiEntropy(compared: Int, mismatches: [AntiEntropyStatus.Mismatch]) {
        antiEntropyStatusLock.withLock { status in
            status.rounds += 1
            status.slotsCompared += Int64(compared)
            status.mismatches += Int64(mismatches.count)
            status.lastRoundAt = .now
            if let last = mismatches.last { status.lastMismatch = last }
        }
    }

    /// Makes the replicas in `mismatches` (found different from their owners' copies at `epoch`) equal to their owners
    /// again: each owner installs what its replica holds and it lacks (`merge`, de-duplicated, so no event any copy
    /// holds is lost); then one table of the next epoch drops those replicas (`CoordinatorState.dropReplicas`; nothing
    /// more happens when the table changed meanwhile) and goes to every worker, each worker deletes its dropped copies
    /// from its replica store, and the mover's repairs copy the slots from their owners again. Until their deletes are
    /// done, those workers receive no repair (`replicaCandidates`).
    func reconcile(_ mismatches: [AntiEntropyStatus.Mismatch], epoch: Int64) async {
        let dropped = Dictionary(grouping: mismatches, by: \.worker).mapValues { $0.map(\.slot).sorted() }
        recopying.withLock { $0.formUnion(dropped.keys) }
        defer {
            recopying.withLock { $0.subtract(dropped.keys) }
            moveRequested.yield()
        }
        do {
            for mismatch in mismatches {
                try await merge(mismatch.slot, from: mismatch.worker, into: mismatch.owner)
            }
            try await dropCopies(dropped, epoch: epoch)
        } catch {
            logger.warning("anti-entropy: making a copy equal failed", metadata: ["error": "\(error)"])
        }
    }

    /// Longest wait for a worker to delete the copies `dropCopies` dropped.
    static let dropDeleteTimeout = Duration.seconds(60)

    /// Drops the replicas `dropped` names (worker → slots) in one table of the next epoch
    /// (`CoordinatorState.dropReplicas`; nothing happens when the table is no longer at `epoch` or a move is
    /// unfinished), pushes it to every worker, and has each of those workers delete those slots from its replica store
    /// (a delete that fails is logged and left: the next copy of such a slot to that worker deletes the leftover before
    /// it starts, and replica stores are never queried). Whether the table changed.
    @discardableResult
    func dropCopies(_ dropped: [String: [Int]], epoch: Int64) async throws -> Bool {
        guard let table = try await state.dropReplicas(dropped, epoch: epoch) else { return false }
        await pushAll()
        for (worker, slots) in dropped.sorted(by: { $0.key < $1.key }) {
            guard let url = state.snapshot.workerURLs[worker] else { continue }
            let body: JSONValue = .object([
                "slots": .array(slots.sorted().map { .number(String($0)) }),
                "slotCount": .number(String(table.slotCount)), "store": .string(SlotRole.replica.rawValue),
            ])
            do {
                let reply = try await client.send(
                    .POST, baseURL: url, path: "/internal/v1/slots/delete", body: JSONWriter.string(body),
                    timeout: Coordinator.dropDeleteTimeout)
                if reply.status != 200 {
                    logger.warning(
                        "deleting a dropped copy failed; the next copy of those slots to this worker deletes it",
                        metadata: ["worker": "\(worker)", "status": "\(reply.status)", "detail": "\(reply.detail)"])
                }
            } catch {
                logger.warning(
                    "deleting a dropped copy failed; the next copy of those slots to this worker deletes it",
                    metadata: ["worker": "\(worker)", "error": "\(error)"])
            }
        }
        return true
    }

    /// Installs into `owner`'s primary store every event of `slot` that `worker`'s replica store holds (a pull of the
    /// replica's copy under a cursor of its own, chunk by chunk until it has caught up; events the owner has are
    /// skipped by de-duplication).
    private func merge(_ slot: Int, from worker: String, into owner: String) async throws {
        let snapshot = state.snapshot
        guard let source = snapshot.workerURLs[worker], let target = snapshot.workerURLs[owner] else {
            throw SlotMoveError.unknownWorker(snapshot.workerURLs[worker] == nil ? worker : owner)
        }
        let cursor = "merge-\(ULID.make(time: .now))"
        var after: Int64 = 0
        while true {
            let body: JSONValue = .object([
                "worker": .string(owner), "source": .string(source), "slots": .array([.number(String(slot))]),
                "slotCount": .number(String(snapshot.table.slotCount)), "after": .number(String(after)),
                "cursor": .string(cursor), "maxEvents": .number(String(settings.moveChunkEvents)),
                "store": .string(SlotRole.primary.rawValue), "sourceStore": .string(SlotRole.replica.rawValue),
                "merge": .bool(true),
            ])
            let reply = try await client.send(
                .POST, baseURL: target, path: "/internal/v1/slots/pull", body: JSONWriter.string(body),
                timeout: SlotMover.stepTimeout)
            guard reply.status == 200, case .number(let throughText)? = reply.json?["through"],
                let through = Int64(throughText), case .number(let positionText)? = reply.json?["sourcePosition"],
                let position = Int64(positionText)
            else { throw SlotMoveError.pullFailed(source: worker, status: reply.status, detail: reply.detail) }
            if through >= position { return }
            after = through
        }
    }
}
