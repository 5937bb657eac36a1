import Foundation
import GRDB
import Synchronization
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore

/// The coordinator's durable state in its own SQLite file: the slot count, every slot table by epoch,
/// the workers and the versioned meter catalog. Changes are written first, then published in memory.
public final class CoordinatorState: Sendable {
    let queue: DatabaseQueue
    private let published: Mutex<ClusterSnapshot>

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// Opens the state at `path`. A new cluster gets the initial slot table over the configured workers;
    /// an existing one keeps its table, takes new URLs for its workers, and refuses a changed slot count or
    /// worker set (moving slots between workers is the node-add operation). Meters declared in the
    /// configuration are created when no live meter has their slug.
    public init(path: String, settings: ClusterSettings, meters specs: [MeterSpec] = []) throws {
        queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE cluster(id INTEGER PRIMARY KEY CHECK (id = 1), slot_count INTEGER NOT NULL,
                        catalog_version INTEGER NOT NULL);
                    CREATE TABLE slot_tables(epoch INTEGER PRIMARY KEY, owners TEXT NOT NULL,
                        created_us INTEGER NOT NULL);
                    CREATE TABLE workers(name TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL);
                    CREATE TABLE meters(id TEXT PRIMARY KEY NOT NULL, slug TEXT NOT NULL, definition TEXT NOT NULL,
                                        version INTEGER NOT NULL, deleted INTEGER NOT NULL);
                    CREATE UNIQUE INDEX meters_live_slug ON meters(slug) WHERE deleted = 0;
                    """)
        }
        try migrator.migrate(queue)
        let snapshot = try queue.write { db -> ClusterSnapshot in
            try CoordinatorState.reconcile(db, settings: settings)
            var snapshot = try CoordinatorState.load(db)
            for spec in specs where snapshot.liveMeter(spec.slug) == nil {
                snapshot.catalogVersion += 1
                let meter = MeterDefinition(id: ULID.make(time: .now), spec: spec, createdAt: .now)
                try CoordinatorState.save(meter, version: snapshot.catalogVersion, db: db)
                snapshot.meters.append(meter)
            }
            return snapshot
        }
        published = Mutex(snapshot)
    }

    /// The current snapshot.
    public var snapshot: ClusterSnapshot { published.withLock { $0 } }

    private static func reconcile(_ db: Database, settings: ClusterSettings) throws {
        let names = settings.workers.map(\.name)
        if let row = try Row.fetchOne(db, sql: "SELECT slot_count FROM cluster") {
            let slotCount: Int = row[0]
            guard slotCount == settings.slots else {
                throw Refusal(
                    description:
                        "the cluster was created with \(slotCount) slots; cluster.slots says \(settings.slots). "
                            + "The slot count is fixed for a cluster's life."
                )
            }
            let table = try latestTable(db)
            let owners = Set(table.owners)
            guard owners == Set(names) else {
                throw Refusal(
                    description:
                        "cluster.workers lists \(names.sorted().joined(separator: ", ")) but the slot table "
                            + "(epoch \(table.epoch)) is owned by \(owners.sorted().joined(separator: ", ")); "
                            + "adding or removing a worker moves data and is not done by editing the list"
                )
            }
        } else {
            try db.execute(
                sql: "INSERT INTO cluster(id, slot_count, catalog_version) VALUES (1, ?, 0)",
                arguments: [settings.slots])
            let table = SlotPlanner.initial(workers: names, slotCount: settings.slots)
            try db.execute(
                sql: "INSERT INTO slot_tables(epoch, owners, created_us) VALUES (?, ?, ?)",
                arguments: [table.epoch, JSONWriter.string(table.json), Timestamp.now.micros])
        }
        for worker in settings.workers {
            try db.execute(
                sql: "INSERT INTO workers(name, url) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET url = excluded.url",
                arguments: [worker.name, worker.url])
        }
    }

    private static func latestTable(_ db: Database) throws -> SlotTable {
        guard let text = try String.fetchOne(db, sql: "SELECT owners FROM slot_tables ORDER BY epoch DESC LIMIT 1"),
            let table = (try? JSONParser.parse(text)).flatMap(SlotTable.init(json:))
        else {
            throw Refusal(description: "the coordinator state holds no readable slot table")
        }
        return table
    }

    private static func load(_ db: Database) throws -> ClusterSnapshot {
        let version = try Int64.fetchOne(db, sql: "SELECT catalog_version FROM cluster") ?? 0
        var urls: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, url FROM workers") { urls[row[0]] = row[1] }
        let meters = try String.fetchAll(db, sql: "SELECT definition FROM meters ORDER BY id").compactMap { text in
            (try? JSONParser.parse(text)).flatMap(MeterDefinition.init(json:))
        }
        return ClusterSnapshot(table: try latestTable(db), workerURLs: urls, catalogVersion: version, meters: meters)
    }

    private static func save(_ meter: MeterDefinition, version: Int64, db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO meters(id, slug, definition, version, deleted) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET slug = excluded.slug, definition = excluded.definition,
                    version = excluded.version, deleted = excluded.deleted
                """,
            arguments: [meter.id, meter.slug, JSONWriter.string(meter.json), version, meter.deletedAt == nil ? 0 : 1])
        try db.execute(sql: "UPDATE cluster SET catalog_version = ?", arguments: [version])
    }

    /// Stores a new or changed meter under the next catalog version and publishes it.
    /// Throws `StoreError.slugTaken` when another live meter has the slug.
    public func put(_ meter: MeterDefinition) async throws -> ClusterSnapshot {
        try await queue.write { db in
            var snapshot = self.snapshot
            if meter.deletedAt == nil, let other = snapshot.liveMeter(meter.slug), other.id != meter.id {
                throw StoreError.slugTaken(meter.slug)
            }
            snapshot.catalogVersion += 1
            try CoordinatorState.save(meter, version: snapshot.catalogVersion, db: db)
            if let index = snapshot.meters.firstIndex(where: { $0.id == meter.id }) {
                snapshot.meters[index] = meter
            } else {
                snapshot.meters.append(meter)
            }
            self.published.withLock { $0 = snapshot }
            return snapshot
        }
    }
}
