import TallyCore
import TallyHTTP
import TallyStore

/// A worker that could not serve its part of a request, and why.
public struct WorkerFailure: Error, Sendable, Hashable {
    /// What is known of the request's fate at the worker.
    public enum Kind: Sendable, Hashable {
        /// The request never reached the worker (refused connection, worker known down, not forwarded): nothing
        /// of it was applied there.
        case unreachable
        /// No answer within `forwardTimeoutMs`: the worker may still have applied it.
        case timedOut
        /// The worker answered with an error status: nothing of it was applied there.
        case refused(status: Int)
    }

    public var worker: String
    public var kind: Kind
    public var reason: String
    /// The problem a worker answered with, when it refused the request.
    public var problem: JSONValue?

    public init(worker: String, kind: Kind, reason: String, problem: JSONValue? = nil) {
        self.worker = worker
        self.kind = kind
        self.reason = reason
        self.problem = problem
    }

    /// Whether the worker refused the request itself (a 4xx other than a fence): retrying can never succeed.
    public var refusesTheRequest: Bool {
        if case .refused(let status) = kind { return (400..<500).contains(status) && status != 409 }
        return false
    }

    /// Whether the worker answered that the meter is still back-filling there (`Problem.meterBuilding`).
    public var isMeterBuilding: Bool { problem?["type"]?.stringValue == Problem.meterBuildingType }

    /// Whether the worker fenced the request (409: another epoch, slots it does not own): nothing was applied, and
    /// the request planned again on the current table may succeed.
    public var isFenced: Bool { kind == .refused(status: 409) }

    /// Whether the request may have been applied although it failed.
    public var outcomeUnknown: Bool { kind == .timedOut }
}

/// What the cluster engine could not do; the coordinator's routes render these as problems.
public enum ClusterError: Error, Sendable {
    /// Some workers could not answer a query or listing, which would be incomplete without them.
    case shardsUnavailable([WorkerFailure], table: SlotTableSummary)
    /// Some parts of an ingested batch were not committed: every part, with its outcome.
    case partialIngest([IngestPart])
    /// A worker refused the request itself (a 4xx other than a fence); its problem is relayed as it is.
    case requestRefused(WorkerFailure)
    /// The request waited `waited` for a move's switch-over (writes to moving slots, queries) and it did not end.
    case slotsMoving(moveID: String, waited: Duration)
    /// Owners refused events of the batch: they count toward entitlements without access. Nothing was stored.
    case accessDenied(EnforcementRefusal)
    /// An owner refused events that passed the check (another batch used the access up meanwhile); the parts in
    /// `parts` that committed stay stored.
    case accessChanged(EnforcementRefusal, parts: [IngestPart])
}

/// One worker's part of an ingested batch and its outcome.
public struct IngestPart: Sendable, Hashable {
    public var worker: String
    public var events: Int
    /// nil when the part is committed.
    public var failure: WorkerFailure?
}

/// The slots each worker owned when a request failed, for the problem naming the missing data.
public struct SlotTableSummary: Sendable, Hashable {
    public var slotsByWorker: [String: [Int]]

    public init(_ table: SlotTable) {
        slotsByWorker = table.owners.enumerated().reduce(into: [:]) { $0[$1.element, default: []].append($1.offset) }
    }
}
