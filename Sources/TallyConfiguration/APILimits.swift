/// Request and connection limits of the public API (and of a worker's internal API).
public struct APILimits: Sendable {
    /// Largest request body accepted, in bytes (default 4 MiB); larger bodies get 413.
    public var maxBodyBytes: Int = 4 * 1024 * 1024
    /// Most events in one ingest batch; larger batches get 413.
    public var maxBatchEvents: Int = 10_000
    /// Most client connections open at once; further connections wait in the accept backlog. The default leaves
    /// room for health checks beside thousands of idle clients, and the process raises its open-files limit to fit.
    public var maxConnections: Int = 8192
    /// A connection with no request in progress for this long is closed, in seconds.
    public var idleTimeoutSeconds: Int = 30

    public init() {}
}
