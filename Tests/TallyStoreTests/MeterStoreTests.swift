import TallyCore
import Testing

@testable import TallyStore

@Suite struct MeterStoreTests {
    @Test func newMeterBackfillsEarlierEvents() async throws {
        let store = try StoreFixture().open()
        try await store.ingest([
            event("e1", time: "2024-01-01T00:00:10Z", data: #"{"v": 2, "m": "a"}"#),
            event("e2", time: "2024-01-01T05:00:00Z", data: #"{"v": 3, "m": "b"}"#),
            event("e3", type: "other", time: "2024-01-01T05:00:00Z", data: #"{"v": 100}"#),
        ])
        _ = try await store.createMeter(spec("tokens", .sum, groupBy: ["m": "$.m"]))
        #expect(try await store.total("tokens") == "5")
        try await store.ingest([event("e4", time: "2024-01-01T06:00:00Z", data: #"{"v": 4, "m": "a"}"#)])
        let rows = try await store.rows("tokens", MeterQuery(to: t("2025-01-01T00:00:00Z"), groupBy: ["m"]))
        #expect(rows.map { "\(($0.groupBy["m"] ?? nil) ?? "-")=\($0.value)" } == ["a=6", "b=3"])
    }

    @Test func eventFromSkipsOlderEvents() async throws {
        let store = try StoreFixture().open()
        try await store.ingest([
            event("e1", time: "2024-01-01T00:00:00Z", data: #"{"v": 2}"#),
            event("e2", time: "2024-01-03T00:00:00Z", data: #"{"v": 3}"#),
        ])
        var definition = spec("tokens", .sum)
        definition.eventFrom = t("2024-01-02T00:00:00Z")
        _ = try await store.createMeter(definition)
        #expect(try await store.total("tokens") == "3")
        #expect(try await store.total("tokens", from: "2023-12-31T23:59:30Z") == "3")
    }

    @Test func groupByUpdateRebuildsFromRawEvents() async throws {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum, groupBy: ["m": "$.m"]))
        try await store.ingest([
            event("e1", time: "2024-01-01T00:00:00Z", data: #"{"v": 2, "m": "a", "r": "eu"}"#),
            event("e2", time: "2024-01-01T00:00:00Z", data: #"{"v": 3, "m": "b", "r": "eu"}"#),
        ])
        let update = MeterUpdate(
            name: "Tokens", description: nil, metadata: nil, groupBy: ["r": try JSONPath(parsing: "$.r")])
        let updated = try await store.updateMeter(idOrSlug: "tokens", update)
        #expect(updated.name == "Tokens")
        let rows = try await store.rows("tokens", MeterQuery(to: t("2025-01-01T00:00:00Z"), groupBy: ["r"]))
        #expect(rows.map { "\(($0.groupBy["r"] ?? nil) ?? "-")=\($0.value)" } == ["eu=5"])
    }

    @Test func deleteKeepsRawEventsAndFreesTheSlug() async throws {
        let fixture = try StoreFixture()
        let store = try fixture.open()
        let first = try await store.createMeter(spec("tokens", .sum))
        await #expect(throws: StoreError.slugTaken("tokens")) { _ = try await store.createMeter(spec("tokens", .max)) }
        try await store.ingest([event("e1", time: "2024-01-01T00:00:00Z", data: #"{"v": 2}"#)])
        try await store.deleteMeter(idOrSlug: "tokens")
        #expect(store.meter(idOrSlug: "tokens") == nil)
        #expect(store.eventCount == 1)
        await #expect(throws: StoreError.meterNotFound("tokens")) { try await store.deleteMeter(idOrSlug: "tokens") }
        let second = try await store.createMeter(spec("tokens", .max))
        #expect(second.id != first.id)
        #expect(try await store.total("tokens") == "2")
        let all = try await fixture.open().listMeters(includeDeleted: true)
        #expect(all.count == 2)
        #expect(all.filter { $0.deletedAt != nil }.map(\.id) == [first.id])
    }

    @Test func ensureMetersCreatesOnlyMissingSlugs() async throws {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum))
        let created = try await store.ensureMeters([spec("tokens", .max), spec("calls", .count, value: nil)])
        #expect(created.map(\.slug) == ["calls"])
        #expect(store.meters.map(\.slug) == ["calls", "tokens"])
        #expect(store.meter(idOrSlug: "tokens")?.aggregation == .sum)
    }

    @Test func meterSubjectsListsSubjectsWithUsage() async throws {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum))
        try await store.ingest([
            event("e1", subject: "b", time: "2024-01-01T00:00:00Z", data: #"{"v": 1}"#),
            event("e2", subject: "a", time: "2024-01-05T00:00:00Z", data: #"{"v": 1}"#),
            event("e3", subject: "z", type: "other", time: "2024-01-05T00:00:00Z", data: #"{"v": 1}"#),
        ])
        let meter = store.meter(idOrSlug: "tokens")!
        #expect(try await store.meterSubjects(meter: meter, from: nil, to: nil) == ["a", "b"])
        #expect(try await store.meterSubjects(meter: meter, from: t("2024-01-02T00:00:00Z"), to: nil) == ["a"])
    }
}

@Suite struct DistinctValueLimitTests {
    @Test func aUniqueCountQueryReadingMoreDistinctValuesThanTheLimitIsRefused() async throws {
        var configuration = StoreConfiguration()
        configuration.maxDistinctValueEntries = 3
        configuration.maxPendingAggregateKeys = 1
        let store = try StoreFixture().open(configuration)
        _ = try await store.createMeter(spec("users", .uniqueCount, value: "$.u"))
        let events = (0..<4).map { event("e\($0)", time: "2024-01-01T00:00:00Z", data: #"{"u": "user-\#($0)"}"#) }
        try await store.ingest(Array(events.prefix(3)))
        try await store.flushAggregates()
        let range = MeterQuery(from: t("2024-01-01T00:00:00Z"), to: t("2024-01-02T00:00:00Z"))
        #expect(try await store.rows("users", range).map(\.value) == [Amount(3)])
        try await store.ingest([events[3]])
        try await store.flushAggregates()
        await #expect(throws: QueryTooLarge(meterSlug: "users", limit: 3)) { try await store.rows("users", range) }
    }
}
