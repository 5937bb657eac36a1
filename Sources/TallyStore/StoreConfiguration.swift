import TallyCore

/// Limits and durability settings of one shard store.
public struct StoreConfiguration: Sendable {
    /// How long an event's (source, id, subject) is remembered for de-duplication, in seconds (default 32 days).
    public var dedupWindowSeconds: Int64 = 32 * 86_400
    /// Most queued ingest batches committed together in one transaction.
    public var maxGroupCommitBatches: Int = 64
    /// Most ingest batches waiting for a commit; more are refused (HTTP 503) instead of queueing without bound.
    public var maxQueuedBatches: Int = 4096
    /// Pending aggregate keys (meter, minute, subject, group; counted per batch) that trigger a flush at once.
    public var maxPendingAggregateKeys: Int = 50_000
    /// Pending aggregate keys (the current part and the one being flushed) from which ingest batches are refused
    /// (HTTP 503, nothing stored) until a flush catches up: the back-pressure that keeps pending partials (memory,
    /// and the work every query does to add them) bounded when events arrive faster than they are merged. Measured:
    /// roughly 1.3 KB of memory per pending key (a node peaked at 1.2 GB with up to 800,000), so lower it on small
    /// machines.
    public var maxPendingAggregateKeysBeforeRefusal: Int = 1_000_000
    /// Subjects the ingest path remembers as stored (about 100 bytes each); past it the cache starts over.
    public var maxCachedSubjects: Int = 1_000_000
    /// Longest time committed events' partials stay pending (in memory, covered by raw events) while ingestion runs.
    public var aggregateFlushInterval: Duration = .seconds(1)
    /// Positions (events) scanned per step when a meter is back-filled from raw events: each step is one
    /// transaction of the aggregates file, beside ingestion (`MeterBuild`).
    public var backfillChunkEvents: Int = 50_000
    /// Back-fills of at most this many positions finish before the meter change answers; larger ones run in the
    /// background (`MeterBuildService`) and the meter answers queries with `meter-building` until they are done.
    public var backfillInlinePositions: Int64 = 50_000
    /// Most raw events one slot export or install carries (`SlotDataError.tooLarge` beyond): the data is held in
    /// memory, about 1 KB per event.
    public var maxSlotExportEvents: Int = 1_000_000
    /// Most positions one slot export walks (`exportSlots`): a piece of a copy of few slots out of many ends there, so
    /// one read never walks the whole shard.
    public var slotExportScanPositions: Int = 200_000
    /// Most bytes of event bodies one slot export carries (it stops after the event that reaches it), so a chunk of
    /// large events stays small in memory and on the wire.
    public var slotExportBodyBytes: Int = 16 * 1024 * 1024
    /// How de-dup keys are hashed (`xxh64Pair`, 128 bits; tests inject a weak hash to force collisions). A store's
    /// keys are written with it: never change it for an existing store.
    public var dedupHash: DedupHash = .xxh64Pair
    /// De-dup keys examined per prune transaction.
    public var dedupPruneBatchRows: Int = 50_000
    /// Most distinct-value entries one UNIQUE_COUNT query reads from this shard (`QueryTooLarge` beyond).
    public var maxDistinctValueEntries: Int = MeterQuery.maxDistinctValueEntries

    /// SQLite page cache per connection, in KiB: the de-dup and aggregate indexes are keyed randomly,
    /// so a cache that holds their hot pages saves reads.
    public var pageCacheKiB: Int = 65_536
    /// WAL pages after which a commit checkpoints into the database file (SQLite's default is 1000).
    public var walCheckpointPages: Int = 10_000

    public init() {}
}
