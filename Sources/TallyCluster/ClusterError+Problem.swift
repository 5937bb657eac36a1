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
            let counts = Dictionary(parts.map { ($0.worker, $0.events) }) { first, _ in first }
            return Problem(
                .serviceUnavailable, type: "urn:tally:problem:worker-unavailable",
                detail: "\(failed.count) of \(parts.count) part(s) of the batch were not confirmed: "
                    + failed.map { "worker \($0.worker) (\(counts[$0.worker] ?? 0) events) \($0.reason)" }.joined(
                        separator: "; ")
                    + ". Committed parts stay committed; retrying the whole batch is safe "
                    + "(its events are de-duplicated).",
                extensions: ["parts": ClusterError.report(parts)]
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
        case .accessDenied(let refusal):
            return refusal.problem
        case .accessChanged(let refusal, let parts):
            var problem = refusal.problem
            problem.status = .conflict
            problem.type = "urn:tally:problem:entitlement-access-changed"
            problem.detail =
                "\(refusal.refused.count) event(s) passed the access check but were refused when stored: another "
                + "batch used the access up meanwhile. The parts committed stay stored; retrying the whole batch is "
                + "safe (stored events are de-duplicated, the rest judged again)."
            problem.extensions["parts"] = ClusterError.report(parts)
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

extension ClusterError {
    /// Each part of a batch with its outcome: `committed`, `unknown` (no answer in time) or `failed`, and why.
    static func report(_ parts: [IngestPart]) -> JSONValue {
        .array(
            parts.map { part in
                var members: JSONObject = ["worker": .string(part.worker), "events": .number(String(part.events))]
                switch part.failure {
                case nil: members["status"] = .string("committed")
                case let failure? where failure.outcomeUnknown: members["status"] = .string("unknown")
                case .some: members["status"] = .string("failed")
                }
                if let failure = part.failure { members["reason"] = .string(failure.reason) }
                return .object(members)
            })
    }
}
