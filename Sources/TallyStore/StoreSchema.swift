import GRDB

/// The shard's two database schemas, applied by GRDB's migrators: raw events (the events file) and meters, node
/// state and pre-aggregates (the aggregates file). Two files have two writers, so merging aggregates never holds up
/// ingestion. Stores written before the split keep meters and minutes in the events file; `ShardStore` moves them
/// once (`LegacyLayout`).
enum StoreSchema {
    /// The events file: `events`, `positions`, `dedup_keys`, `dedup_collisions`, `subjects` (v1 and v2 also created
    /// the tables that now live in the aggregates file; they are dropped once moved). `dedupHash` keys the de-dup
    /// entries v5 moves.
    static func eventsMigrator(dedupHash: DedupHash) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meters(
                        id TEXT PRIMARY KEY NOT NULL,
                        slug TEXT NOT NULL,
                        definition TEXT NOT NULL,
                        deleted_at INTEGER,
                        rebuilt_through_seq INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE aggregation_state(
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        through_seq INTEGER NOT NULL
                    );
                    INSERT INTO aggregation_state(id, through_seq) VALUES (1, 0);
                    CREATE UNIQUE INDEX meters_live_slug ON meters(slug) WHERE deleted_at IS NULL;
                    CREATE TABLE events(
                        seq INTEGER PRIMARY KEY,
                        subject TEXT NOT NULL,
                        source TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        type TEXT NOT NULL,
                        time_us INTEGER NOT NULL,
                        ingested_us INTEGER NOT NULL,
                        body TEXT NOT NULL
                    );
                    CREATE INDEX events_type_time ON events(type, time_us);
                    CREATE INDEX events_time ON events(time_us);
                    CREATE TABLE dedup(
                        source TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        ingested_us INTEGER NOT NULL,
                        PRIMARY KEY(source, event_id, subject)
                    ) WITHOUT ROWID;
                    CREATE TABLE subjects(
                        key TEXT PRIMARY KEY NOT NULL,
                        id TEXT NOT NULL,
                        first_seen_us INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE minute_agg(
                        meter_id TEXT NOT NULL,
                        minute_us INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        group_key TEXT NOT NULL,
                        count INTEGER NOT NULL,
                        sum BLOB NOT NULL,
                        min BLOB,
                        max BLOB,
                        latest_us INTEGER,
                        latest_value BLOB,
                        PRIMARY KEY(meter_id, minute_us, subject, group_key)
                    ) WITHOUT ROWID;
                    CREATE TABLE minute_unique(
                        meter_id TEXT NOT NULL,
                        minute_us INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        group_key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY(meter_id, minute_us, subject, group_key, value)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-node-state") { db in
            try db.execute(
                sql: "CREATE TABLE node_state(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID")
        }
        // One customer's events by time (the edges of per-customer queries, which have no per-minute aggregates);
        // back-fill scans the table and edges over all customers read `events_time`, so (type, time) goes.
        migrator.registerMigration("v3-subject-time") { db in
            try db.execute(
                sql: """
                    CREATE INDEX events_subject_time ON events(subject, time_us);
                    DROP INDEX IF EXISTS events_type_time;
                    """)
        }
        // A position that never goes back, even when the newest events are deleted (a slot moved away): events get
        // their `seq` from it, so "slot s up to position p" always names the same events.
        migrator.registerMigration("v4-positions") { db in
            try db.execute(
                sql: """
                    CREATE TABLE positions(id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
                    INSERT INTO positions(id, last) SELECT 1, coalesce(max(seq), 0) FROM events;
                    """)
        }
        // De-dup entries keyed by a 16-byte hash of (source, id, customer) with the position of the event they
        // stand for (`Deduplicator`), instead of the three strings.
        migrator.registerMigration("v5-dedup-keys") { db in
            try db.execute(
                sql: """
                    CREATE TABLE dedup_keys(
                        key BLOB PRIMARY KEY NOT NULL,
                        seq INTEGER NOT NULL,
                        ingested_us INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE dedup_collisions(
                        source TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        ingested_us INTEGER NOT NULL,
                        PRIMARY KEY(source, event_id, subject)
                    ) WITHOUT ROWID;
                    """)
            var deduplicator = try Deduplicator(db, hash: dedupHash, hasCollisions: false)
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT e.seq, e.source, e.event_id, e.subject, d.ingested_us FROM events e
                    JOIN dedup d ON d.source = e.source AND d.event_id = e.event_id AND d.subject = e.subject
                    ORDER BY e.seq
                    """)
            while let row = try rows.next() {
                _ = try deduplicator.admit(
                    source: row[1], id: row[2], subject: row[3], seq: row[0], ingestedMicros: row[4], db: db)
            }
            try db.execute(sql: "DROP TABLE dedup")
        }
        migrator.registerMigration("v6-slot-copies") { db in
            // How far each copy of slots from another shard has been installed (`installSlots`).
            try db.execute(
                sql:
                    "CREATE TABLE slot_copies(cursor TEXT PRIMARY KEY NOT NULL, through INTEGER NOT NULL) WITHOUT ROWID"
            )
        }
        migrator.registerMigration("v7-events-node-state") { db in
            // Node state written with the events writer only (a worker's slot table, `saveEventsState`).
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS node_state(
                        key TEXT PRIMARY KEY NOT NULL,
                        value TEXT NOT NULL
                    ) WITHOUT ROWID
                    """)
        }
        migrator.registerMigration("v8-entitlements") { db in
            // Features, and each customer's entitlements, grants and manual resets: written with its usage, in the
            // events file. Bodies are the records' JSON (`EntitlementRecords`).
            try db.execute(
                sql: """
                    CREATE TABLE features(
                        id TEXT PRIMARY KEY NOT NULL,
                        key TEXT NOT NULL,
                        archived_us INTEGER,
                        body TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE UNIQUE INDEX features_live_key ON features(key) WHERE archived_us IS NULL;
                    CREATE TABLE entitlements(
                        id TEXT PRIMARY KEY NOT NULL,
                        customer TEXT NOT NULL,
                        feature_key TEXT NOT NULL,
                        body TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX entitlements_customer ON entitlements(customer, feature_key);
                    CREATE TABLE grants(
                        id TEXT PRIMARY KEY NOT NULL,
                        entitlement_id TEXT NOT NULL,
                        customer TEXT NOT NULL,
                        body TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX grants_entitlement ON grants(entitlement_id);
                    CREATE TABLE entitlement_resets(
                        entitlement_id TEXT NOT NULL,
                        at_us INTEGER NOT NULL,
                        body TEXT NOT NULL,
                        PRIMARY KEY(entitlement_id, at_us)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v9-notifications") { db in
            // Webhook channels and rules, the outbox of notification events with their deliveries, and the last
            // threshold each rule fired per entitlement, usage period and kind (so each fires once per period).
            try db.execute(
                sql: """
                    CREATE TABLE notification_channels(
                        id TEXT PRIMARY KEY NOT NULL,
                        deleted_us INTEGER,
                        body TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE notification_rules(
                        id TEXT PRIMARY KEY NOT NULL,
                        deleted_us INTEGER,
                        body TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE notification_events(
                        id TEXT PRIMARY KEY NOT NULL,
                        created_us INTEGER NOT NULL,
                        next_attempt_us INTEGER,
                        body TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX notification_events_due ON notification_events(next_attempt_us)
                        WHERE next_attempt_us IS NOT NULL;
                    CREATE TABLE notification_marks(
                        key TEXT PRIMARY KEY NOT NULL,
                        threshold TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v10-customers") { db in
            // Customers (bodies are their JSON) and the subject keys each live customer attributes; a subject key
            // belongs to at most one live customer.
            try db.execute(
                sql: """
                    CREATE TABLE customers(
                        id TEXT PRIMARY KEY NOT NULL,
                        key TEXT,
                        owner_key TEXT NOT NULL,
                        deleted_us INTEGER,
                        body TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE UNIQUE INDEX customers_live_key ON customers(key) WHERE deleted_us IS NULL;
                    CREATE INDEX customers_owner ON customers(owner_key) WHERE deleted_us IS NULL;
                    CREATE TABLE customer_subjects(
                        subject TEXT PRIMARY KEY NOT NULL,
                        customer_id TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX customer_subjects_customer ON customer_subjects(customer_id);
                    """)
        }
        return migrator
    }

    /// The aggregates file: meters, node state, the aggregation checkpoint, minutes and rollups. Aggregate rows are
    /// keyed by the meter's `number` (never reused), not its 26-character id.
    static var aggregatesMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meters(
                        number INTEGER PRIMARY KEY AUTOINCREMENT,
                        id TEXT NOT NULL UNIQUE,
                        slug TEXT NOT NULL,
                        definition TEXT NOT NULL,
                        deleted_at INTEGER,
                        rebuilt_through_seq INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE UNIQUE INDEX meters_live_slug ON meters(slug) WHERE deleted_at IS NULL;
                    CREATE TABLE node_state(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
                    CREATE TABLE aggregation_state(
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        through_seq INTEGER NOT NULL
                    );
                    INSERT INTO aggregation_state(id, through_seq) VALUES (1, 0);
                    CREATE TABLE minute_agg(
                        meter INTEGER NOT NULL,
                        minute_us INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        group_key TEXT NOT NULL,
                        count INTEGER NOT NULL,
                        sum BLOB NOT NULL,
                        min BLOB,
                        max BLOB,
                        latest_us INTEGER,
                        latest_value BLOB,
                        PRIMARY KEY(meter, minute_us, subject, group_key)
                    ) WITHOUT ROWID;
                    CREATE TABLE minute_unique(
                        meter INTEGER NOT NULL,
                        minute_us INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        group_key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY(meter, minute_us, subject, group_key, value)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-rollups") { db in
            try db.execute(
                sql: """
                    CREATE TABLE rollup_agg(
                        meter INTEGER NOT NULL,
                        resolution INTEGER NOT NULL,
                        bucket_us INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        group_key TEXT NOT NULL,
                        count INTEGER NOT NULL,
                        sum BLOB NOT NULL,
                        min BLOB,
                        max BLOB,
                        latest_us INTEGER,
                        latest_value BLOB,
                        PRIMARY KEY(meter, resolution, bucket_us, subject, group_key)
                    ) WITHOUT ROWID;
                    CREATE INDEX rollup_agg_by_subject ON rollup_agg(meter, resolution, subject, bucket_us);
                    CREATE TABLE rollup_unique(
                        meter INTEGER NOT NULL,
                        resolution INTEGER NOT NULL,
                        bucket_us INTEGER NOT NULL,
                        subject TEXT NOT NULL,
                        group_key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY(meter, resolution, bucket_us, subject, group_key, value)
                    ) WITHOUT ROWID;
                    CREATE INDEX rollup_unique_by_subject ON rollup_unique(meter, resolution, subject, bucket_us);
                    CREATE TABLE total_agg(
                        meter INTEGER NOT NULL,
                        resolution INTEGER NOT NULL,
                        bucket_us INTEGER NOT NULL,
                        group_key TEXT NOT NULL,
                        count INTEGER NOT NULL,
                        sum BLOB NOT NULL,
                        min BLOB,
                        max BLOB,
                        latest_us INTEGER,
                        latest_value BLOB,
                        PRIMARY KEY(meter, resolution, bucket_us, group_key)
                    ) WITHOUT ROWID;
                    CREATE TABLE total_unique(
                        meter INTEGER NOT NULL,
                        resolution INTEGER NOT NULL,
                        bucket_us INTEGER NOT NULL,
                        group_key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY(meter, resolution, bucket_us, group_key, value)
                    ) WITHOUT ROWID;
                    """)
        }
        // Per-customer rows only by hour and day (minutes by customer come from raw events), minutes over all
        // customers in `total_agg`. The aggregates are rebuilt from raw events at the next open
        // (`rebuildRequiredKey`).
        migrator.registerMigration("v3-no-customer-minutes") { db in
            try db.execute(
                sql: """
                    DROP TABLE minute_agg;
                    DROP TABLE minute_unique;
                    DELETE FROM rollup_agg;
                    DELETE FROM rollup_unique;
                    DELETE FROM total_agg;
                    DELETE FROM total_unique;
                    """)
            try db.execute(
                sql: "INSERT OR REPLACE INTO node_state(key, value) VALUES (?, '1')", arguments: [rebuildRequiredKey])
        }
        // A meter's back-fill runs in chunks beside ingestion (`MeterBuild`); while it runs, the meter row holds
        // how far it got, so a restart resumes it.
        migrator.registerMigration("v4-meter-builds") { db in
            try db.execute(
                sql: """
                    ALTER TABLE meters ADD COLUMN build_number INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE meters ADD COLUMN build_from_seq INTEGER;
                    ALTER TABLE meters ADD COLUMN build_target_seq INTEGER;
                    ALTER TABLE meters ADD COLUMN build_done_seq INTEGER;
                    """)
        }
        return migrator
    }

    /// The `node_state` key present while every live meter's aggregates must be rebuilt from raw events (a schema
    /// change dropped them); `ShardStore` rebuilds them at open and removes it in the same transaction.
    static let rebuildRequiredKey = "store.rebuild-aggregates"
}
