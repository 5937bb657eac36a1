import Foundation
import GRDB
import Logging
import Synchronization
import TallyCore

/// One shard of Tally's data in two embedded SQLite databases (WAL): the events file (raw events, the de-dup index,
/// subjects; `synchronous=FULL`, so an acknowledged event is on disk) and the aggregates file beside it (meter
/// definitions, node state, the aggregation checkpoint, and pre-aggregates by minute, hour and day).
/// Each file has its own writer, so merging aggregates runs beside ingestion instead of between its commits.
/// Aggregate flushes commit with `synchronous=NORMAL`: a power loss can undo the last flushes, but never a part of
/// one, and the checkpoint moves back with them, so the store replays those events from the events file; meter and
/// node-state changes commit with `synchronous=FULL` (see `commit(in:durable:)`).
public final class ShardStore: Sendable {
    public let configuration: StoreConfiguration
    /// The events file.
    let pool: DatabasePool
    /// The aggregates file.
    let aggregates: DatabasePool
    /// Live (not deleted) meters; changed only inside write transactions.
    let liveMeters = Mutex(MeterSet())
    /// Customers with usage since the notifier last looked (`touchCustomers`), at most `maxTouchedCustomers`.
    let touchedCustomers = Mutex(TouchedCustomers())
    let committer: GroupCommitter<PreparedBatch>
    let pending: PendingAggregates
    /// Subjects known to be in the `subjects` table (by bytes), so ingestion skips their insert: a cache of at most
    /// `StoreConfiguration.maxCachedSubjects`, emptied when full, never loaded in bulk (a subject it misses costs one
    /// `INSERT OR IGNORE` that keeps the stored row).
    let knownSubjects: Mutex<Set<Identifier>>
    /// The shard's position: the `seq` of the last committed raw event, never lowered (`positions`).
    let lastPosition: Mutex<Int64>
    /// Raw events stored.
    let storedEvents: Mutex<Int64>
    /// Whether `dedup_collisions` holds rows (`Deduplicator`); changed only by committed transactions.
    let hasDedupCollisions: Mutex<Bool>
    /// Meters still back-filling from raw events (`MeterBuild`), by id; changed only by committed transactions.
    let builds: Mutex<[String: MeterBuild]>
    /// Wakes the background builder (`MeterBuildService`); holds at most one undelivered signal.
    let buildRequests = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    /// Inline enforcement's live usage and lookups (`ingestEnforced`), in step with committed events.
    let enforcement = Mutex(EnforcementLedger())
    /// Why writes are failing, while they are (see `writeFailure`).
    let writeHealth = Mutex<StoreError?>(nil)
    public let logger: Logger

    /// The aggregates file of the store whose events file is `path`: `shard.sqlite` → `shard.aggregates.sqlite`.
    public static func aggregatesPath(for path: String) -> String {
        (path.hasSuffix(".sqlite") ? String(path.dropLast(".sqlite".count)) : path) + ".aggregates.sqlite"
    }

    /// Opens (creating if needed) the store whose events file is `path` and applies the schemas.
    public init(
        path: String, configuration: StoreConfiguration = StoreConfiguration(),
        logger: Logger = Logger(label: "tally.store")
    ) throws {
        self.configuration = configuration
        self.logger = logger
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA cache_size = -\(configuration.pageCacheKiB)")
            db.add(function: AggregateBuffer.addFunction)
            db.add(function: ShardStore.slotFunction)
        }
        pool = try DatabasePool(path: path, configuration: config)
        var aggregatesConfig = config
        aggregatesConfig.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        aggregates = try DatabasePool(path: ShardStore.aggregatesPath(for: path), configuration: aggregatesConfig)
        try StoreSchema.eventsMigrator(dedupHash: configuration.dedupHash).migrate(pool)
        try StoreSchema.aggregatesMigrator.migrate(aggregates)
        for database in [pool, aggregates] {
            try database.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(configuration.walCheckpointPages)")
            }
        }
        committer = GroupCommitter(
            maxBatchesPerCommit: configuration.maxGroupCommitBatches, maxQueuedBatches: configuration.maxQueuedBatches)
        try LegacyLayout.move(events: pool, aggregates: aggregates)
        try ShardStore.rebuildIfRequired(
            events: pool, aggregates: aggregates, chunkEvents: configuration.backfillChunkEvents, logger: logger)
        let stored = try aggregates.read { db in try ShardStore.loadMeters(db, includeDeleted: false) }
        knownSubjects = Mutex([])
        let (position, eventRows) = try pool.read { db in
            (try ShardStore.position(db), try Int64.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0)
        }
        lastPosition = Mutex(position)
        hasDedupCollisions = Mutex(
            try pool.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS(SELECT 1 FROM dedup_collisions)") ?? false }
        )
        storedEvents = Mutex(eventRows)
        liveMeters.withLock { set in
            for meter in stored { set.byID[meter.id] = meter }
        }
        let (checkpoint, rebuilt, running) = try aggregates.read { db in
            (try ShardStore.aggregationCheckpoint(db), try ShardStore.rebuiltThrough(db), try ShardStore.loadBuilds(db))
        }
        // Only live meters that were read build (a definition this version cannot read is not live).
        let live = Set(stored.map(\.id))
        builds = Mutex(running.filter { live.contains($0.key) })
        if !running.isEmpty { buildRequests.continuation.yield() }
        let (replayed, throughSeq, events) = try pool.read { db in
            try ShardStore.replayPending(db, meters: stored, checkpoint: checkpoint, rebuilt: rebuilt)
        }
        pending = PendingAggregates(
            throughSeq: throughSeq, maxPendingKeys: configuration.maxPendingAggregateKeys,
            flushInterval: configuration.aggregateFlushInterval)
        pending.add([replayed], throughSeq: throughSeq)
        if events > 0 {
            logger.info("replayed events past the aggregation checkpoint", metadata: ["events": "\(events)"])
        }
    }

    /// Rebuilds every live meter's aggregates from raw events when a schema change or a legacy move dropped them, in
    /// one transaction that also clears the mark and moves the checkpoint to the last event.
    private static func rebuildIfRequired(
        events: DatabasePool, aggregates: DatabasePool, chunkEvents: Int, logger: Logger
    ) throws {
        let key = StoreSchema.rebuildRequiredKey
        let required = try aggregates.read { db in
            try Bool.fetchOne(db, sql: "SELECT count(*) > 0 FROM node_state WHERE key = ?", arguments: [key]) ?? false
        }
        guard required else { return }
        try events.read { eventsDB in
            try aggregates.write { db in
                for meter in try ShardStore.loadMeters(db, includeDeleted: false) {
                    try ShardStore.rebuildAggregates(
                        of: meter, events: eventsDB, aggregates: db, chunkEvents: chunkEvents, logger: logger)
                }
                try db.execute(
                    sql: "UPDATE aggregation_state SET through_seq = ? WHERE id = 1",
                    arguments: [try ShardStore.position(eventsDB)])
                try db.execute(sql: "DELETE FROM node_state WHERE key = ?", arguments: [key])
            }
        }
    }

    /// The last event each live meter's aggregates were rebuilt through.
    private static func rebuiltThrough(_ db: Database) throws -> [String: Int64] {
        var rebuilt: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, rebuilt_through_seq FROM meters WHERE deleted_at IS NULL") {
            rebuilt[row[0]] = row[1]
        }
        return rebuilt
    }

    /// Partials of the raw events past the aggregation checkpoint, for each meter not rebuilt after them.
    private static func replayPending(
        _ db: Database, meters: [MeterDefinition], checkpoint: Int64, rebuilt: [String: Int64]
    ) throws -> (AggregateBuffer, Int64, Int) {
        var throughSeq = checkpoint
        var buffer = AggregateBuffer()
        var events = 0
        let rows = try Row.fetchCursor(
            db, sql: "SELECT seq, body, time_us FROM events WHERE seq > ? ORDER BY seq", arguments: [throughSeq])
        while let row = try rows.next() {
            let seq: Int64 = row[0]
            throughSeq = seq
            guard let event = StoredEvent.decode(row[1], timeMicros: row[2]) else { continue }
            let eligible = meters.filter { seq > rebuilt[$0.id, default: 0] }
            buffer.add(PreparedEvent.samples(of: event, meters: eligible), of: event)
            events += 1
        }
        return (buffer, throughSeq, events)
    }

    /// Merges every pending partial into the aggregate tables and advances the checkpoint, in one transaction. When it
    /// fails, the partials are pending again and the checkpoint has not moved.
    public func flushAggregates() async throws {
        _ = try await commit(
            in: aggregates, durable: false,
            { [pending] db in
                guard let pile = pending.beginFlush() else { return }
                var part = pile.merged
                // Partials the checkpoint already covers are stored (only a second opener of the same file,
                // as a test does, could have flushed them): counting them again would double them.
                guard part.throughSeq > (try ShardStore.aggregationCheckpoint(db)) else { return }
                try part.buffer.flush(db)
                try db.execute(
                    sql: "UPDATE aggregation_state SET through_seq = ? WHERE id = 1", arguments: [part.throughSeq])
            }, then: { [pending] in pending.endFlush() }, orElse: { [pending] in pending.abortFlush() })
    }

    /// Starts a flush in the background when one is due; otherwise, while partials are pending, checks again once
    /// `aggregateFlushInterval` has passed, so they are flushed even when ingestion stops.
    func flushIfDue() {
        guard pending.claimFlush() else {
            if let delay = pending.armTimer() {
                Task { [self] in
                    try? await Task.sleep(for: delay)
                    pending.disarmTimer()
                    flushIfDue()
                }
            }
            return
        }
        Task { [self] in
            do { try await flushAggregates() } catch {
                logger.error("aggregate flush failed; partials stay pending", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Live meters, sorted by slug.
    public var meters: [MeterDefinition] {
        meterSnapshot().meters.sorted { $0.slug < $1.slug }
    }

    /// The live meter with this id or slug.
    public func meter(idOrSlug: String) -> MeterDefinition? {
        liveMeters.withLock { set in set.byID[idOrSlug] ?? set.byID.values.first { $0.slug == idOrSlug } }
    }

    /// Number of raw events stored, kept in memory so health checks and probes never wait for a database reader.
    public var eventCount: Int64 { storedEvents.withLock { $0 } }

    /// The shard's position: every committed event has a `seq` at or below it, and no later event will.
    public var position: Int64 { lastPosition.withLock { $0 } }

    /// The stored position (the events file's `positions` row): at least every `seq` ever given.
    static func position(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db, sql: "SELECT max((SELECT last FROM positions WHERE id = 1), (SELECT coalesce(max(seq), 0) FROM events))"
        )
            ?? 0
    }

    /// The live meters and the generation of the meter set they belong to.
    func meterSnapshot() -> (generation: Int, meters: [MeterDefinition]) {
        liveMeters.withLock { ($0.generation, Array($0.byID.values)) }
    }

    /// Replaces (or with nil removes) live meters; call only from a transaction's `commit` effects.
    func setLiveMeters(_ changes: [(id: String, meter: MeterDefinition?)]) {
        guard !changes.isEmpty else { return }
        liveMeters.withLock { set in
            for change in changes { set.byID[change.id] = change.meter }
            set.generation += 1
        }
    }

    static func loadMeters(_ db: Database, includeDeleted: Bool) throws -> [MeterDefinition] {
        let sql =
            includeDeleted ? "SELECT definition FROM meters" : "SELECT definition FROM meters WHERE deleted_at IS NULL"
        return try String.fetchAll(db, sql: sql).compactMap { text in
            (try? JSONParser.parse(text)).flatMap(MeterDefinition.init(json:))
        }
    }
}
