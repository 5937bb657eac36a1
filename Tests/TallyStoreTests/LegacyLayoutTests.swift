import GRDB
import TallyCore
import Testing

@testable import TallyStore

/// A store written before the events/aggregates split (meters, node state and minutes in `shard.sqlite`) opens with
/// its meters, node state and counts intact, its aggregates rebuilt in the aggregates file, and the old tables gone.
@Suite struct LegacyLayoutTests {
    @Test func aSingleFileStoreMovesItsMetersAndRebuildsItsAggregates() async throws {
        let fixture = try StoreFixture()
        let meter = MeterDefinition(
            id: "01JLEGACYMETER0000000000000", spec: spec("tokens", .sum, groupBy: ["m": "$.m"]),
            createdAt: t("2024-01-01T00:00:00Z"))
        let legacy = try DatabaseQueue(path: fixture.path)
        try StoreSchema.eventsMigrator(dedupHash: .xxh64Pair).migrate(legacy)
        try await legacy.write { db in
            try db.execute(
                sql: "INSERT INTO meters(id, slug, definition) VALUES (?, ?, ?)",
                arguments: [meter.id, meter.slug, JSONWriter.string(meter.json)])
            try db.execute(sql: "INSERT INTO node_state(key, value) VALUES ('cluster.epoch', '7')")
            for (index, value) in ["1.5", "2.25", "40"].enumerated() {
                let body =
                    #"{"specversion":"1.0","id":"e\#(index)","source":"app","type":"prompt","subject":"c1","#
                    + #""time":"2024-03-0\#(index + 1)T10:00:00Z","data":{"v":\#(value),"m":"a"}}"#
                try db.execute(
                    sql: """
                        INSERT INTO events(subject, source, event_id, type, time_us, ingested_us, body)
                        VALUES ('c1', 'app', ?, 'prompt', ?, 0, ?)
                        """, arguments: ["e\(index)", t("2024-03-0\(index + 1)T10:00:00Z").micros, body])
            }
            // The old layout's minutes (stale on purpose): the move rebuilds from raw events instead.
            try db.execute(
                sql: """
                    INSERT INTO minute_agg(meter_id, minute_us, subject, group_key, count, sum)
                    VALUES (?, 0, 'c1', '{}', 1, X'')
                    """, arguments: [meter.id])
        }
        try legacy.close()

        let store = try fixture.open()
        #expect(store.meters.map(\.id) == [meter.id])
        #expect(try await store.nodeState("cluster.epoch").aggregates == "7")
        #expect(try await store.nodeState("cluster.epoch").events == nil)
        #expect(try await store.total("tokens", from: "2024-01-01T00:00:00Z") == "43.75")
        let days = try await store.rows(
            "tokens",
            MeterQuery(from: t("2024-03-01T00:00:00Z"), to: t("2024-03-04T00:00:00Z"), windowSize: .day))
        #expect(days.map(\.value.description) == ["1.5", "2.25", "40"])
        let tables = try await store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        #expect(
            tables == [
                "customer_subjects", "customers", "dedup_collisions", "dedup_keys", "entitlement_resets",
                "entitlements", "events", "features", "grants",
                "grdb_migrations", "node_state", "notification_channels", "notification_events", "notification_marks",
                "notification_rules", "positions", "slot_copies", "subjects",
            ])
        try await store.ingest([
            event("e9", time: "2024-03-01T11:00:00Z", data: #"{"v":0.25,"m":"a"}"#)
        ])
        #expect(try await store.total("tokens", from: "2024-01-01T00:00:00Z") == "44")
    }
}
