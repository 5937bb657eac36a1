import GRDB
import TallyCore
import Testing

@testable import TallyStore

/// A store written by the previous version (per-minute rows by customer) opens with those tables gone, its aggregates
/// rebuilt from raw events at every resolution, its counts intact, its position where its events end, and its de-dup
/// entries moved to 16-byte keys.
@Suite struct SchemaUpgradeTests {
    @Test func aStoreWithCustomerMinutesIsRebuiltWithoutThem() async throws {
        let fixture = try StoreFixture()
        let meter = MeterDefinition(
            id: "01JUPGRADEMETER000000000000", spec: spec("tokens", .sum, groupBy: ["m": "$.m"]),
            createdAt: t("2024-01-01T00:00:00Z"))
        let events = try DatabaseQueue(path: fixture.path)
        try StoreSchema.eventsMigrator(dedupHash: .xxh64Pair).migrate(events, upTo: "v2-node-state")
        try await events.write { db in
            for table in LegacyLayout.movedTables { try db.execute(sql: "DROP TABLE \(table)") }
            for (index, value) in ["1.5", "2.25", "40"].enumerated() {
                let body =
                    #"{"specversion":"1.0","id":"e\#(index)","source":"app","type":"prompt","subject":"c\#(index)","#
                    + #""time":"2024-03-01T10:0\#(index):30Z","data":{"v":\#(value),"m":"a"}}"#
                try db.execute(
                    sql: """
                        INSERT INTO events(subject, source, event_id, type, time_us, ingested_us, body)
                        VALUES (?, 'app', ?, 'prompt', ?, 0, ?)
                        """,
                    arguments: ["c\(index)", "e\(index)", t("2024-03-01T10:0\(index):30Z").micros, body])
                try db.execute(
                    sql: "INSERT INTO dedup(source, event_id, subject, ingested_us) VALUES ('app', ?, ?, 0)",
                    arguments: ["e\(index)", "c\(index)"])
            }
        }
        try events.close()
        let aggregates = try DatabaseQueue(path: ShardStore.aggregatesPath(for: fixture.path))
        try StoreSchema.aggregatesMigrator.migrate(aggregates, upTo: "v2-rollups")
        try await aggregates.write { db in
            try db.execute(
                sql: "INSERT INTO meters(id, slug, definition) VALUES (?, ?, ?)",
                arguments: [meter.id, meter.slug, JSONWriter.string(meter.json)])
            try db.execute(sql: "UPDATE aggregation_state SET through_seq = 3")
            // A stale minute of the old layout: the upgrade rebuilds from raw events instead of trusting it.
            try db.execute(
                sql: """
                    INSERT INTO minute_agg(meter, minute_us, subject, group_key, count, sum)
                    VALUES (1, 0, 'c1', '{}', 1, X'')
                    """)
        }
        try aggregates.close()

        let store = try fixture.open()
        #expect(try await store.total("tokens", from: "2024-01-01T00:00:00Z") == "43.75")
        let minutes = try await store.rows(
            "tokens",
            MeterQuery(
                from: t("2024-03-01T10:00:00Z"), to: t("2024-03-01T10:05:00Z"), windowSize: .minute,
                groupBy: ["subject"]))
        #expect(minutes.map { "\($0.subject ?? "-") \($0.value)" } == ["c0 1.5", "c1 2.25", "c2 40"])
        let (tables, indexes, marks) = try await store.aggregates.read { db in
            (
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
                try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM node_state") ?? -1
            )
        }
        #expect(
            tables == [
                "aggregation_state", "grdb_migrations", "meters", "node_state", "rollup_agg", "rollup_unique",
                "sqlite_sequence", "total_agg", "total_unique",
            ])
        #expect(indexes == ["meters_live_slug", "rollup_agg_by_subject", "rollup_unique_by_subject"])
        #expect(marks == 0)
        let eventIndexes = try await store.pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        }
        #expect(
            eventIndexes == [
                "customer_subjects_customer", "customers_live_key", "customers_owner", "entitlements_customer",
                "events_subject_time", "events_time", "features_live_key",
                "grants_entitlement",
                "notification_events_due",
            ])
        #expect(store.position == 3)
        #expect(store.eventCount == 3)
        // The old de-dup entries became 16-byte keys: the same event again is still a duplicate.
        try await store.ingest([
            event("e1", subject: "c1", time: "2024-03-01T10:01:30Z", data: #"{"v":2.25,"m":"a"}"#)
        ])
        #expect(try await store.total("tokens", from: "2024-01-01T00:00:00Z") == "43.75")
        #expect(try await store.pool.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM dedup_keys") } == 3)
    }
}
