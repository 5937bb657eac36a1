/// Tells a slow worker from a dead one from the outcomes of its probes alone: a pure decision the coordinator's probe
/// loop feeds (`record`) and its routing and status read. A worker that misses a probe is only suspected; it is
/// declared down once it has answered nothing for `failureTimeoutMicros`, so one slow answer from a busy worker
/// never counts as a death. Any answer makes it up again.
public struct FailureDetector: Sendable, Hashable {
    /// What the coordinator believes of a worker.
    public enum State: String, Sendable, Hashable {
        /// Not probed yet.
        case unknown
        /// Answered its last probe.
        case up
        /// Missed a probe (or a request could not reach it), but not for long enough to be declared down.
        case suspect
        /// Answered nothing for the failure timeout.
        case down
    }

    /// What one probe (or one request) learned.
    public enum Outcome: Sendable, Hashable {
        /// The worker answered.
        case answered
        /// No answer in time: the worker may be busy, paused or gone.
        case timedOut
        /// The connection was refused or reset: nothing listens there now.
        case unreachable
    }

    /// How long a worker may answer nothing before it is declared down, in microseconds.
    public let failureTimeoutMicros: Int64
    public private(set) var state: State = .unknown
    /// Since when the worker has answered nothing; nil while it answers.
    public private(set) var silentSince: Timestamp?
    /// Since when connections to the worker have been refused; nil once it answers. Requests for such a worker fail
    /// at once instead of each waiting for a connection that will not come.
    public private(set) var unreachableSince: Timestamp?
    /// Whether the worker has answered at least once.
    public private(set) var hasAnswered = false

    public init(failureTimeoutMicros: Int64) {
        precondition(failureTimeoutMicros > 0, "a failure timeout is positive")
        self.failureTimeoutMicros = failureTimeoutMicros
    }

    /// Records `outcome` observed at `now` for a probe sent at `sentAt` (nil: at `now`; a missed probe's silence
    /// starts when it was sent, not when its timeout ran out); the state after it.
    @discardableResult
    public mutating func record(_ outcome: Outcome, at now: Timestamp, sentAt: Timestamp? = nil) -> State {
        switch outcome {
        case .answered:
            state = .up
            hasAnswered = true
            silentSince = nil
            unreachableSince = nil
        case .timedOut, .unreachable:
            let since = silentSince ?? min(sentAt ?? now, now)
            silentSince = since
            if outcome == .unreachable { unreachableSince = unreachableSince ?? now }
            let (silence, overflow) = now.micros.subtractingReportingOverflow(since.micros)
            state = !overflow && silence >= failureTimeoutMicros ? .down : .suspect
        }
        return state
    }

    /// Whether requests for the worker should fail at once: it is down, or it refuses connections.
    public var refusesRequests: Bool { state == .down || unreachableSince != nil }
}
