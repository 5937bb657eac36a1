import TallyCore
import TallyHTTP

extension Coordinator {
    /// Splits validated events by owning worker and forwards the parts concurrently; returns once every
    /// owner has committed its part. Parts of concurrent batches bound for the same worker travel in one
    /// request (group commit, up to `maxForwardBodyBytes`). Otherwise throws `ClusterError.partialIngest` with
    /// each part's outcome (committed, failed, or unknown after a timeout): committed parts stay committed, and a
    /// retry of the whole batch is de-duplicated by the owners.
    public func ingest(_ events: [CloudEvent]) async throws(ClusterError) {
        let table = state.snapshot.table
        var parts: [String: [CloudEvent]] = [:]
        for event in events { parts[table.owner(of: event.subject), default: []].append(event) }
        var failures: [String: WorkerFailure] = [:]
        await withTaskGroup(of: (String, WorkerFailure?).self) { group in
            for (worker, part) in parts {
                group.addTask { (worker, await self.forward(part, to: worker)) }
            }
            for await (worker, failure) in group { failures[worker] = failure }
        }
        guard !failures.isEmpty else { return }
        throw .partialIngest(
            parts.keys.sorted().map { worker in
                IngestPart(worker: worker, events: parts[worker]?.count ?? 0, failure: failures[worker])
            })
    }

    /// Forwards one worker's part through its group committer; nil once the worker committed it.
    private func forward(_ part: [CloudEvent], to worker: String) async -> WorkerFailure? {
        guard let forwarder = forwarders[worker] else {
            return WorkerFailure(worker: worker, kind: .unreachable, reason: "unknown worker")
        }
        do {
            try await forwarder.submit(IngestRequest.joinedTexts(part)) { texts in
                let body = "[" + texts.joined(separator: ",") + "]"
                if case .failure(let failure) = await self.call(
                    worker, .POST, "/internal/v1/events", body: body,
                    contentType: "application/cloudevents-batch+json")
                {
                    throw failure
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
