import GRDB

/// The shard database schema, applied by GRDB's migrator.
enum StoreSchema {
    static var migrator: DatabaseMigrator {
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
        return migrator
    }
}
