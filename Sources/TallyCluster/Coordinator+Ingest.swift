import TallyCore
import TallyHTTP

extension Coordinator {
    /// Splits validated events by the workers holding their slots (owner and replicas: each event goes to every holder)
    /// and forwards the parts concurrently; returns once every holder has committed its part. Parts of concurrent
    /// batches bound for the same worker travel in one request (group commit, up to `maxForwardBodyBytes`). Events of
    /// slots that are switching to a new worker wait for the switch (at most `maxFenceWait`); a part a worker fenced
    /// because its slots moved meanwhile is routed again by the current table (`maxReroutes` times). Otherwise throws
    /// `ClusterError.partialIngest` with each part's outcome (committed, failed, or unknown after a timeout): committed
    /// parts stay committed, and a retry of the whole batch is de-duplicated by the owners.
    public func ingest(_ events: [CloudEvent]) async throws(ClusterError) {
        if enforcesAccess { return try await ingestEnforcing(events) }
        var pending = events
        var reports: [IngestPart] = []
        var attempt = 0
        while !pending.isEmpty {
            let waiting = pending
            let (table, ticket) = try await admit(waiting)
            var parts: [String: [Int]] = [:]
            for (index, event) in pending.enumerated() {
                let slot = table.slot(of: event.subject)
                parts[table.owners[slot], default: []].append(index)
                for replica in table.replicas[slot] { parts[replica, default: []].append(index) }
            }
            var failures: [String: WorkerFailure] = [:]
            await withTaskGroup(of: (String, WorkerFailure?).self) { group in
                for (worker, part) in parts {
                    let events = part.map { waiting[$0] }
                    group.addTask { (worker, await self.forward(events, to: worker, epoch: table.epoch)) }
                }
                for await (worker, failure) in group { failures[worker] = failure }
            }
            writeGate.leave(ticket)
            var again = Set<Int>()
            let reroute = attempt < Coordinator.maxReroutes
            attempt += 1
            for worker in parts.keys.sorted() {
                let part = parts[worker] ?? []
                if let failure = failures[worker], failure.isFenced, reroute {
                    again.formUnion(part)
                } else {
                    reports.append(IngestPart(worker: worker, events: part.count, failure: failures[worker]))
                }
            }
            pending = again.sorted().map { waiting[$0] }
        }
        guard reports.contains(where: { $0.failure != nil }) else { return }
        throw .partialIngest(reports)
    }

    /// The table to route `events` by and the write's `WriteGate` ticket, once no move switching over fences their
    /// slots and no anti-entropy round holds them (both wait at most `maxFenceWait` in all).
    func admit(_ events: [CloudEvent]) async throws(ClusterError) -> (SlotTable, Int) {
        let deadline = ContinuousClock.now + Coordinator.maxFenceWait
        while true {
            let snapshot = try await snapshot(waitingWhile: { snapshot in
                let fenced = snapshot.fencedSlots
                return !fenced.isEmpty && events.contains { fenced.contains(snapshot.table.slot(of: $0.subject)) }
            })
            let table = snapshot.table
            if let ticket = writeGate.enter(Set(events.map { table.slot(of: $0.subject) })) { return (table, ticket) }
            guard ContinuousClock.now < deadline else {
                throw .slotsMoving(moveID: snapshot.move?.id ?? "anti-entropy", waited: Coordinator.maxFenceWait)
            }
            try? await Task.sleep(for: Coordinator.fencePollInterval)
        }
    }

    /// Forwards one worker's part, routed by the table of `epoch`, through its group committer; nil once the worker
    /// committed it. The part travels at that epoch (parts of other epochs that go together are sent in requests of
    /// their own): a worker at a later epoch refuses it, and it is routed again by the current table, so a write
    /// routed before a switch-over never reaches only the holders of the old table.
    func forward(_ part: [CloudEvent], to worker: String, epoch: Int64) async -> WorkerFailure? {
        do {
            let part = ForwardedPart(texts: IngestRequest.joinedTexts(part), epoch: epoch)
            try await forwarder(worker).submit(part) { parts in
                for (epoch, parts) in Dictionary(grouping: parts, by: \.epoch).sorted(by: { $0.key < $1.key }) {
                    let body = "[" + parts.map(\.texts).joined(separator: ",") + "]"
                    if case .failure(let failure) = await self.call(
                        worker, .POST, "/internal/v1/events", body: body,
                        contentType: "application/cloudevents-batch+json", epoch: epoch)
                    {
                        throw failure
                    }
                }
            }
            return nil
        } catch let failure as WorkerFailure {
            return failure
        } catch GroupCommitterError.queueFull(let limit) {
            return WorkerFailure(
                worker: worker, kind: .unreachable,
                reason: "not forwarded: \(limit) parts already wait for this worker (maxQueuedPartsPerWorker)")
        } catch {
            return WorkerFailure(worker: worker, kind: .unreachable, reason: "not forwarded: \(error)")
        }
    }
}

/// Part of a client batch bound for one worker: its events' texts joined by commas, and the epoch of the table that
/// routed it.
struct ForwardedPart: Sendable {
    var texts: String
    var epoch: Int64
}
