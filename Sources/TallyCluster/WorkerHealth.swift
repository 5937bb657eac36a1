import TallyCore

/// What the coordinator last learned about one worker from its probe.
public struct WorkerHealth: Sendable, Hashable {
    public var up: Bool
    public var eventsStored: Int64?
    public var epoch: Int64?
    public var catalogVersion: Int64?
    /// Why the last probe or request failed.
    public var error: String?
    public var checkedAt: Timestamp
    /// When a probe or request last failed to reach the worker; nil once a probe reached it again.
    /// Requests for a worker that failed are refused at once instead of waiting `forwardTimeoutMs` each.
    public var failedAt: Timestamp?
    /// Probes in a row that got no answer in time (reset by an answer).
    public var consecutiveProbeTimeouts = 0

    public static func unknown() -> WorkerHealth {
        WorkerHealth(
            up: false, eventsStored: nil, epoch: nil, catalogVersion: nil, error: "not probed yet", checkedAt: .now,
            failedAt: nil)
    }
}
