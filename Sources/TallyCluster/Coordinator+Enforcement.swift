import TallyCore
import TallyHTTP
import TallyStore

/// Ingestion while some feature rejects usage without access (`enforcement: "reject"`): each owner judges its part
/// against the entitlements of its slots' customers, and a part refused anywhere keeps the whole batch out.
extension Coordinator {
    /// Whether any feature of the catalog rejects usage without access.
    var enforcesAccess: Bool { state.snapshot.features.contains { $0.spec.enforcement == .reject } }

    /// Forwards `events` with enforcement: with several owners, each first judges its part without storing it
    /// (`check`), and any refusal refuses the batch (`accessDenied`) with nothing stored; then each owner stores its
    /// part only if it still admits it (`reject`, judged in the transaction that commits it), and the replicas get the
    /// parts their owners committed. An owner refusing then (another batch used the access up in between) leaves
    /// the other owners' parts stored: `accessChanged` names them.
    func ingestEnforcing(_ events: [CloudEvent]) async throws(ClusterError) {
        let (table, ticket) = try await admit(events)
        defer { writeGate.leave(ticket) }
        var owned: [String: [Int]] = [:]
        for (index, event) in events.enumerated() {
            owned[table.owners[table.slot(of: event.subject)], default: []].append(index)
        }
        let owners = owned.keys.sorted()
        if owners.count > 1 {
            let checks = await judge(owned, events, mode: .check, epoch: table.epoch)
            try Coordinator.refusal(checks, owned: owned, table: table)
        }
        let outcomes = await judge(owned, events, mode: .reject, epoch: table.epoch)
        var reports: [IngestPart] = []
        var refused: [(refused: JSONValue, batchIndex: [Int])] = []
        var committed: [Int] = []
        for owner in owners {
            let part = owned[owner] ?? []
            switch outcomes[owner] {
            case nil:
                committed += part
                reports.append(IngestPart(worker: owner, events: part.count, failure: nil))
            case let failure?:
                if let list = failure.problem?["refused"] { refused.append((list, part)) }
                reports.append(IngestPart(worker: owner, events: part.count, failure: failure))
            }
        }
        var replicas: [String: [Int]] = [:]
        for index in committed.sorted() {
            for replica in table.replicas[table.slot(of: events[index].subject)] {
                replicas[replica, default: []].append(index)
            }
        }
        await withTaskGroup(of: IngestPart.self) { group in
            for (replica, part) in replicas {
                group.addTask {
                    let failure = await self.forward(part.map { events[$0] }, to: replica, epoch: table.epoch)
                    return IngestPart(worker: replica, events: part.count, failure: failure)
                }
            }
            for await report in group { reports.append(report) }
        }
        if let refusal = EnforcementRefusal.merging(refused) {
            // Nothing was stored only when no owner stored its part and none may have (no answer in time).
            let unknown = outcomes.values.contains { $0.outcomeUnknown }
            if committed.isEmpty, !unknown { throw .accessDenied(refusal) }
            throw .accessChanged(refusal, parts: reports)
        }
        guard reports.contains(where: { $0.failure != nil }) else { return }
        throw .partialIngest(reports)
    }

    /// Sends each owner its part with `mode` concurrently; the failure of each owner that did not admit it.
    private func judge(
        _ owned: [String: [Int]], _ events: [CloudEvent], mode: EnforcementMode, epoch: Int64
    ) async -> [String: WorkerFailure] {
        await withTaskGroup(of: (String, WorkerFailure?).self) { group in
            for (owner, part) in owned {
                group.addTask {
                    let body = "[" + IngestRequest.joinedTexts(part.map { events[$0] }) + "]"
                    let result = await self.call(
                        owner, .POST, "/internal/v1/events", body: body,
                        contentType: "application/cloudevents-batch+json", epoch: epoch,
                        headers: [(WorkerHeaders.enforce.rawName, mode.rawValue)])
                    if case .failure(let failure) = result { return (owner, failure) }
                    return (owner, nil)
                }
            }
            var failures: [String: WorkerFailure] = [:]
            for await (owner, failure) in group { if let failure { failures[owner] = failure } }
            return failures
        }
    }

    /// Throws the batch's refusal when some owner refused its part in a check; else, when an owner could not check
    /// its part, that failure (a check stores nothing anywhere).
    private static func refusal(
        _ failures: [String: WorkerFailure], owned: [String: [Int]], table: SlotTable
    ) throws(ClusterError) {
        guard !failures.isEmpty else { return }
        let refused = failures.compactMap { owner, failure in
            failure.problem?["refused"].map { (refused: $0, batchIndex: owned[owner] ?? []) }
        }
        if let refusal = EnforcementRefusal.merging(refused) { throw .accessDenied(refusal) }
        let failed = failures.sorted { $0.key < $1.key }.map(\.value)
        if let refusing = failed.first(where: \.refusesTheRequest) { throw .requestRefused(refusing) }
        throw .shardsUnavailable(failed, table: SlotTableSummary(table))
    }
}
