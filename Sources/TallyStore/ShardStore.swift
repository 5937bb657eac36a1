import Foundation
import GRDB
import Logging
import Synchronization
import TallyCore

/// One shard of Tally's data in an embedded SQLite database (WAL, `synchronous=FULL`): raw events,
/// the de-dup index, per-minute pre-aggregates and meter definitions.
public final class ShardStore: Sendable {
    public let configuration: StoreConfiguration
    let pool: DatabasePool
    /// Live (not deleted) meters; changed only inside write transactions.
    let liveMeters = Mutex(MeterSet())
    let committer: GroupCommitter<PreparedBatch>
    let logger: Logger

    /// Opens (creating if needed) the store at `path` and applies the schema.
    public init(path: String, configuration: StoreConfiguration = StoreConfiguration(), logger: Logger = Logger(label: "tally.store")) throws {
        self.configuration = configuration
        self.logger = logger
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            db.add(function: AggregateBuffer.addFunction)
        }
        pool = try DatabasePool(path: path, configuration: config)
        try StoreSchema.migrator.migrate(pool)
        committer = GroupCommitter(maxBatchesPerCommit: configuration.maxGroupCommitBatches, maxQueuedBatches: configuration.maxQueuedBatches)
        let stored = try pool.read { db in try ShardStore.loadMeters(db, includeDeleted: false) }
        liveMeters.withLock { set in
            for meter in stored { set.byID[meter.id] = meter }
        }
    }

    /// Live meters, sorted by slug.
    public var meters: [MeterDefinition] {
        liveMeters.withLock { Array($0.byID.values) }.sorted { $0.slug < $1.slug }
    }

    /// The live meter with this id or slug.
    public func meter(idOrSlug: String) -> MeterDefinition? {
        liveMeters.withLock { set in set.byID[idOrSlug] ?? set.byID.values.first { $0.slug == idOrSlug } }
    }

    /// Number of raw events stored.
    public func eventCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0 }
    }

    /// Replaces (or with nil removes) a live meter; call only inside a write transaction.
    func setLiveMeter(id: String, _ meter: MeterDefinition?) {
        liveMeters.withLock { set in
            set.byID[id] = meter
            set.generation += 1
        }
    }

    static func loadMeters(_ db: Database, includeDeleted: Bool) throws -> [MeterDefinition] {
        let sql = includeDeleted ? "SELECT definition FROM meters" : "SELECT definition FROM meters WHERE deleted_at IS NULL"
        return try String.fetchAll(db, sql: sql).compactMap { text in
            (try? JSONParser.parse(text)).flatMap(MeterDefinition.init(json:))
        }
    }
}
