/// Request limits of the public API.
public struct APILimits: Sendable {
    /// Largest request body accepted, in bytes (default 4 MiB); larger bodies get 413.
    public var maxBodyBytes: Int = 4 * 1024 * 1024
    /// Most events in one ingest batch; larger batches get 413.
    public var maxBatchEvents: Int = 10_000
    /// Most client connections open at once; further connections wait in the accept backlog.
    public var maxConnections: Int = 1024

    public init() {}
}
