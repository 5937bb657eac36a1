import NIOHTTP1
import TallyCore
import TallyHTTP

/// Per-customer requests: a customer's customers, entitlements, grants and resets live in the slot of its owner key,
/// on that slot's owner, which answers them with the same routes as a single node; the coordinator relays them there
/// and copies the slot's customer state to its replicas after every write, before it answers.
extension Coordinator {
    /// Fence types a worker answers for a request routed on an old table: it is routed again.
    static let fenceTypes: Set<String> = [
        "urn:tally:problem:stale-epoch", "urn:tally:problem:not-owner", "urn:tally:problem:catalog-behind",
    ]

    /// Relays a public request for `ownerKey` to the owner of its slot (waiting while the slot switches to a new
    /// worker or the owner applies an assignment, at most `maxFenceWait`), routed again when the worker fenced it
    /// (`maxReroutes` times); a write's answer comes once the slot's customer state was copied to its replicas (or,
    /// when a copy fails, once the slot is recorded for the copy the next probe round retries). The worker's answer
    /// is returned as it is.
    func relay(
        _ method: HTTPMethod, _ pathAndQuery: String, body: String?, contentType: String, ownerKey: String
    ) async throws(ClusterError) -> WorkerReply {
        let slot = state.snapshot.table.slot(of: ownerKey)
        let isWrite = method != .GET && method != .HEAD
        let deadline = ContinuousClock.now + Coordinator.maxFenceWait
        var attempt = 0
        while true {
            // The lock is taken only outside a switch-over, which takes the locks of the slots it moves: a write
            // holding one never waits for the switch-over to end.
            _ = try await snapshot(waitingWhile: { $0.fencedSlots.contains(slot) })
            if isWrite { await customerLocks.lock(slot) }
            let table = state.snapshot.table
            if state.snapshot.fencedSlots.contains(slot) {
                if isWrite { customerLocks.unlock(slot) }
                continue
            }
            let worker = table.owners[slot]
            let reply: WorkerReply
            do {
                reply = try await send(
                    worker, method, pathAndQuery, body: body, contentType: contentType, epoch: table.epoch,
                    ownerKey: ownerKey)
            } catch let failure {
                if isWrite {
                    // A write with no answer in time may have been applied: its slot is copied at the next round.
                    if failure.outcomeUnknown { pendingCustomerCopies.withLock { _ = $0.insert(slot) } }
                    customerLocks.unlock(slot)
                }
                throw .shardsUnavailable([failure], table: SlotTableSummary(table))
            }
            let type = reply.status == 409 ? reply.json?["type"]?.stringValue : nil
            if type == WorkerHeaders.assignmentInProgressProblem || type.map(Coordinator.fenceTypes.contains) == true {
                if isWrite { customerLocks.unlock(slot) }
                let failure = WorkerFailure(
                    worker: worker, kind: .refused(status: 409), reason: "fenced: \(reply.detail)", problem: reply.json)
                guard attempt < Coordinator.maxReroutes, ContinuousClock.now < deadline else {
                    throw .shardsUnavailable([failure], table: SlotTableSummary(table))
                }
                if type == WorkerHeaders.assignmentInProgressProblem {
                    try? await Task.sleep(for: Coordinator.fencePollInterval)
                } else {
                    attempt += 1
                    _ = await push(worker)
                }
                continue
            }
            if isWrite {
                if (200..<300).contains(reply.status) {
                    let copied = await copyCustomerState(
                        slot: slot, from: worker, to: table.replicas[slot], slotCount: table.slotCount)
                    if !copied { pendingCustomerCopies.withLock { _ = $0.insert(slot) } }
                }
                customerLocks.unlock(slot)
            }
            return reply
        }
    }

    /// Copies again the customer state of the slots whose copy to a replica failed, each under its slot's lock from
    /// its current owner to its current replicas; a slot stays pending until a copy succeeds.
    func retryCustomerCopies() async {
        let pending = pendingCustomerCopies.withLock { $0 }
        for slot in pending.sorted() {
            await customerLocks.lock(slot)
            let table = state.snapshot.table
            let copied =
                state.snapshot.fencedSlots.contains(slot)
                ? false
                : await copyCustomerState(
                    slot: slot, from: table.owners[slot], to: table.replicas[slot], slotCount: table.slotCount)
            if copied { pendingCustomerCopies.withLock { _ = $0.remove(slot) } }
            customerLocks.unlock(slot)
        }
    }

    /// The owner key of the customer, entitlement or grant `id` names, asked of every worker; nil when none holds it.
    func locateOwner(id: String) async throws(ClusterError) -> String? {
        let table = try await snapshot(waitingWhile: \.queriesHeld).table
        let (replies, failures) = await fanOut(
            table.workers, .GET, "/internal/v1/owners/locate?id=" + EventListing.percentEncoded(id),
            epoch: table.epoch)
        if let owner = replies.lazy.compactMap({ $0.1.json?["ownerKey"]?.stringValue }).first { return owner }
        let missing = failures.filter { $0.kind != .refused(status: 404) }
        guard missing.isEmpty else { throw .shardsUnavailable(missing, table: SlotTableSummary(table)) }
        return nil
    }

    /// Copies `slot`'s customer state from `source`'s primary store to the replica store of each of `replicas`
    /// (concurrently); whether every copy landed (a failure is logged).
    func copyCustomerState(slot: Int, from source: String, to replicas: [String], slotCount: Int) async -> Bool {
        guard !replicas.isEmpty else { return true }
        let path = "/internal/v1/customer-state?slots=\(slot)&slotCount=\(slotCount)&store=primary"
        guard case .success(let data) = await call(source, .GET, path) else {
            logger.warning("customer state not read for its replicas", metadata: ["slot": "\(slot)"])
            return false
        }
        let body = String(buffer: data.body)
        return await withTaskGroup(of: Bool.self) { group in
            for replica in replicas {
                group.addTask {
                    guard
                        case .failure(let failure) = await self.call(
                            replica, .PUT, "/internal/v1/customer-state?store=replica", body: body)
                    else { return true }
                    self.logger.warning(
                        "customer state not copied to a replica; retried at the next probe round",
                        metadata: ["slot": "\(slot)", "replica": "\(replica)", "reason": "\(failure.reason)"])
                    return false
                }
            }
            return await group.reduce(true) { $0 && $1 }
        }
    }

    /// Sends one relayed request to `worker` at `epoch`, naming the owner key it acts for; any answer is returned.
    private func send(
        _ worker: String, _ method: HTTPMethod, _ pathAndQuery: String, body: String?, contentType: String,
        epoch: Int64, ownerKey: String
    ) async throws(WorkerFailure) -> WorkerReply {
        let snapshot = state.snapshot
        if let known = health[worker], known.detector.refusesRequests {
            throw WorkerFailure(worker: worker, kind: .unreachable, reason: "unreachable since the last probe")
        }
        guard let url = snapshot.workerURLs[worker] else {
            throw WorkerFailure(worker: worker, kind: .unreachable, reason: "unknown worker")
        }
        let headers = [
            (WorkerHeaders.epoch.rawName, String(epoch)),
            (WorkerHeaders.catalog.rawName, String(snapshot.catalogVersion)),
            (WorkerHeaders.ownerKey.rawName, EventListing.percentEncoded(ownerKey)),
        ]
        do {
            return try await client.send(
                method, baseURL: url, path: pathAndQuery, headers: headers, body: body, contentType: contentType)
        } catch {
            throw transportFailure(worker, error)
        }
    }
}
