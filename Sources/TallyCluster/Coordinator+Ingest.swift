import TallyCore
import TallyHTTP

extension Coordinator {
    /// Splits validated events by owning worker and forwards the parts concurrently; returns once every
    /// owner has committed its part. Parts of concurrent batches bound for the same worker travel in one
    /// request (group commit, up to `maxForwardBodyBytes`). Otherwise throws a 503 problem naming each
    /// part and its outcome: committed parts stay committed, and a retry of the whole batch is
    /// de-duplicated by the owners.
    public func ingest(_ events: [CloudEvent]) async throws {
        let table = state.snapshot.table
        var parts: [String: [CloudEvent]] = [:]
        for event in events { parts[table.owner(of: event.subject), default: []].append(event) }
        var failures: [String: WorkerFailure] = [:]
        await withTaskGroup(of: (String, WorkerFailure?).self) { group in
            for (worker, part) in parts {
                group.addTask {
                    guard let forwarder = self.forwarders[worker] else { return (worker, WorkerFailure(worker: worker, reason: "unknown worker")) }
                    do {
                        try await forwarder.submit(IngestRequest.joinedTexts(part)) { texts in
                            let body = "[" + texts.joined(separator: ",") + "]"
                            if case .failure(let failure) = await self.call(worker, .POST, "/internal/v1/events", body: body,
                                                                            contentType: "application/cloudevents-batch+json") {
                                throw failure
                            }
                        }
                        return (worker, nil)
                    } catch let failure as WorkerFailure {
                        return (worker, failure)
                    } catch {
                        return (worker, WorkerFailure(worker: worker, reason: "not forwarded: \(error)"))
                    }
                }
            }
            for await (worker, failure) in group { failures[worker] = failure }
        }
        let failed = failures.values.sorted { $0.worker < $1.worker }
        guard !failed.isEmpty else { return }
        let report: [JSONValue] = parts.keys.sorted().map { worker in
            var members: JSONObject = ["worker": .string(worker), "events": .number(String(parts[worker]?.count ?? 0))]
            if let failure = failures[worker] {
                members["status"] = .string("failed")
                members["reason"] = .string(failure.reason)
            } else {
                members["status"] = .string("committed")
            }
            return .object(members)
        }
        throw Problem(
            .serviceUnavailable, type: "urn:tally:problem:worker-unavailable",
            detail: "\(failed.count) of \(parts.count) part(s) of the batch failed: "
                + failed.map { "worker \($0.worker) (\(parts[$0.worker]?.count ?? 0) events) \($0.reason)" }.joined(separator: "; ")
                + ". The other parts are committed; retrying the whole batch is safe (their events are de-duplicated).",
            extensions: ["parts": .array(report)]
        )
    }
}
