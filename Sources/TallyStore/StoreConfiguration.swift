/// Limits and durability settings of one shard store.
public struct StoreConfiguration: Sendable {
    /// How long an event's (source, id, subject) is remembered for de-duplication, in seconds (default 32 days).
    public var dedupWindowSeconds: Int64 = 32 * 86_400
    /// Most queued ingest batches committed together in one transaction.
    public var maxGroupCommitBatches: Int = 64
    /// Most ingest batches waiting for a commit; more are refused (HTTP 503) instead of queueing without bound.
    public var maxQueuedBatches: Int = 4096
    /// Events scanned per step when a meter is back-filled from raw events.
    public var backfillChunkEvents: Int = 50_000
    /// Most de-dup rows deleted per prune transaction.
    public var dedupPruneBatchRows: Int = 50_000

    public init() {}
}
