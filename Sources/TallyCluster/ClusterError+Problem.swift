import TallyCore
import TallyHTTP

extension ClusterError: ProblemRepresentable {
    /// 503 problems naming the workers, their slots, and for ingestion each part's outcome.
    public var problem: Problem {
        switch self {
        case .shardsUnavailable(let failures, let table):
            let slots = failures.flatMap { table.slotsByWorker[$0.worker] ?? [] }.sorted()
            return Problem(
                .serviceUnavailable, type: "urn:tally:problem:shards-unavailable",
                detail: failures.map {
                    "worker \($0.worker) (\(table.slotsByWorker[$0.worker]?.count ?? 0) slots) \($0.reason)"
                }
                .joined(separator: "; ")
                    + ". The answer would be incomplete; retry, or pass allowPartial=true to a meter query.",
                extensions: [
                    "missingWorkers": .array(failures.map { .string($0.worker) }),
                    "missingSlots": .array(slots.map { .number(String($0)) }),
                ]
            )
        case .partialIngest(let parts):
            let failed = parts.compactMap(\.failure)
            let report: [JSONValue] = parts.map { part in
                var members: JSONObject = ["worker": .string(part.worker), "events": .number(String(part.events))]
                switch part.failure {
                case nil: members["status"] = .string("committed")
                case let failure? where failure.outcomeUnknown: members["status"] = .string("unknown")
                case .some: members["status"] = .string("failed")
                }
                if let failure = part.failure { members["reason"] = .string(failure.reason) }
                return .object(members)
            }
            let counts = Dictionary(parts.map { ($0.worker, $0.events) }) { first, _ in first }
            return Problem(
                .serviceUnavailable, type: "urn:tally:problem:worker-unavailable",
                detail: "\(failed.count) of \(parts.count) part(s) of the batch were not confirmed: "
                    + failed.map { "worker \($0.worker) (\(counts[$0.worker] ?? 0) events) \($0.reason)" }.joined(
                        separator: "; ")
                    + ". Committed parts stay committed; retrying the whole batch is safe "
                    + "(its events are de-duplicated).",
                extensions: ["parts": .array(report)]
            )
        case .slotsMoving(let moveID, let waited):
            var problem = Problem(
                .serviceUnavailable, type: "urn:tally:problem:slots-moving",
                detail: "slots are switching to a new worker (move \(moveID)) and the switch did not end within "
                    + "\(waited); events for those slots were not applied. Retrying the whole request is safe "
                    + "(its events are de-duplicated).",
                extensions: ["move": .string(moveID)])
            problem.headers[.retryAfter] = "1"
            return problem
        case .requestRefused(let failure):
            var status = 400
            if case .refused(let code) = failure.kind { status = code }
            var problem = Problem(relaying: failure.problem, status: status, fallback: failure.reason)
            if failure.isMeterBuilding { problem.headers[.retryAfter] = "1" }
            return problem
        }
    }
}
