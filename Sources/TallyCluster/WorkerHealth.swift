import TallyConfiguration
import TallyCore

/// What the coordinator last learned about one worker from its probes and requests.
public struct WorkerHealth: Sendable, Hashable {
    /// Up, suspect or down, from the outcomes of probes and requests.
    public var detector: FailureDetector
    /// Events in the worker's primary store (the slots it owns).
    public var eventsStored: Int64?
    /// Events in the worker's replica store (copies of slots other workers own).
    public var replicaEventsStored: Int64?
    public var epoch: Int64?
    public var catalogVersion: Int64?
    /// Why the last probe or request failed; nil once a probe was answered.
    public var error: String?
    public var checkedAt: Timestamp

    /// A worker not probed yet, judged by `settings.workerFailureTimeoutMs`.
    public init(settings: ClusterSettings) {
        detector = FailureDetector(failureTimeoutMicros: Int64(settings.workerFailureTimeoutMs) * 1000)
        error = "not probed yet"
        checkedAt = .now
    }

    public var state: FailureDetector.State { detector.state }
}
