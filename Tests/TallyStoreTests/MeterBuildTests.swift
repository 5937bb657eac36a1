import TallyCore
import TallyTestSupport
import Testing

@testable import TallyStore

/// A meter created or changed on a store that already holds events is back-filled in chunks beside ingestion: until
/// the build is done its queries are refused (or partial when allowed), and after it every event is counted exactly
/// once, whatever ingestion did meanwhile, whether the store restarted, or the meter changed under the build.
@Suite struct MeterBuildTests {
    /// Chunks of 64 positions, nothing finished inline: every build runs step by step under the test's control.
    static var configuration: StoreConfiguration {
        var configuration = StoreConfiguration()
        configuration.backfillChunkEvents = 64
        configuration.backfillInlinePositions = 0
        return configuration
    }

    static func events(_ range: Range<Int>) -> [CloudEvent] {
        var random = SplitMix64(seed: 11)
        let all = (0..<range.upperBound).map { index in
            let micros = t("2024-05-01T00:00:00Z").micros + Int64.random(in: 0..<(3 * 86_400_000_000), using: &random)
            return CloudEvent(
                id: "e\(index)", source: "s", type: index % 10 == 9 ? "other" : "prompt",
                subject: "c\(Int.random(in: 0..<9, using: &random))", time: Timestamp(micros: micros),
                data: .object([
                    "v": .string("\(Int.random(in: 0...900, using: &random)).25"),
                    "m": .string(["a", "b"][Int.random(in: 0..<2, using: &random)]),
                    "user": .string("u\(Int.random(in: 0..<25, using: &random))"),
                ]))
        }
        return Array(all[range])
    }

    static let specs = [
        spec("tokens", .sum, groupBy: ["m": "$.m"]), spec("users", .uniqueCount, value: "$.user"),
        spec("calls", .count, value: nil),
    ]

    static func ingest(_ events: [CloudEvent], into store: ShardStore, batch: Int) async throws {
        for start in stride(from: 0, to: events.count, by: batch) {
            try await store.ingest(Array(events[start..<min(start + batch, events.count)]))
        }
    }

    /// The answers of a store that had the meters before any event arrived.
    static func reference(
        _ events: [CloudEvent], specs: [MeterSpec] = specs
    ) async throws
        -> [String: [MeterQueryRow]]
    {
        let store = try StoreFixture().open()
        for spec in specs { _ = try await store.createMeter(spec) }
        try await ingest(events, into: store, batch: 100)
        return try await store.dailyAnswers()
    }

    /// A store holding 600 events whose three meters were just created: each has its whole back-fill to run.
    static func storeBuildingThreeMeters() async throws -> (ShardStore, [CloudEvent]) {
        let store = try StoreFixture().open(configuration)
        let early = events(0..<600)
        try await ingest(early, into: store, batch: 100)
        for spec in specs { _ = try await store.createMeter(spec) }
        return (store, early)
    }

    @Test func chunksBesideIngestionCountEveryEventOnce() async throws {
        let (store, early) = try await Self.storeBuildingThreeMeters()
        let calls = try #require(store.meter(idOrSlug: "calls"))
        #expect(store.build(of: calls.id) == MeterBuild(number: 1, fromSeq: 0, targetSeq: 600, doneSeq: 0))
        await #expect(throws: StoreError.meterBuilding(slug: "calls", progress: 0)) {
            try await store.total("calls")
        }
        // Allowed partial data counts only the events ingested since the meter was created.
        let late = Self.events(600..<1200)
        try await Self.ingest(Array(late[..<100]), into: store, batch: 100)
        let partial = try await store.rows(
            "calls", MeterQuery(from: t("2024-05-01T00:00:00Z"), to: t("2024-05-04T00:00:00Z")), allowPartial: true)
        #expect(partial.map(\.value.description) == ["90"])

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // Late events and re-sent early ones arrive while two builders race over the same chunks.
            tasks.addTask { try await Self.ingest(Array(late[100...]) + Array(early[..<50]), into: store, batch: 50) }
            tasks.addTask { try await store.finishBuilds() }
            tasks.addTask { try await store.finishBuilds() }
            try await tasks.waitForAll()
        }
        #expect(store.runningBuilds.isEmpty)
        #expect(try await store.total("calls") == "1080")
        #expect(try await store.dailyAnswers() == Self.reference(early + late))
        try await store.flushAggregates()
        #expect(try await store.dailyAnswers() == Self.reference(early + late))
    }

    @Test(arguments: [0, 7, 19])
    func restartResumesFromTheLastChunk(chunksBeforeRestart: Int) async throws {
        let fixture = try StoreFixture()
        let early = Self.events(0..<600)
        let late = Self.events(600..<700)
        let before: [String: MeterBuild]
        do {
            // No flush before the restart: the late events' partials are replayed from raw events at the reopen, and
            // no flush of this instance can land in the file after the reopened store read it.
            var configuration = Self.configuration
            configuration.aggregateFlushInterval = .seconds(3600)
            let store = try fixture.open(configuration)
            try await Self.ingest(early, into: store, batch: 100)
            for spec in Self.specs { _ = try await store.createMeter(spec) }
            for _ in 0..<chunksBeforeRestart { try await store.buildNextChunk() }
            try await Self.ingest(late, into: store, batch: 25)
            before = store.runningBuilds
        }
        // 3 builds of 10 chunks each (600 positions: 9 of 64, then 24), run one meter after the other.
        let done = (0..<chunksBeforeRestart).map { $0 % 10 == 9 ? 24 : 64 }.reduce(0, +)
        #expect(before.values.map(\.remainingPositions).reduce(0, +) == Int64(1800 - done))
        let reopened = try fixture.open(Self.configuration)
        #expect(reopened.runningBuilds == before)
        try await reopened.finishBuilds()
        #expect(try await reopened.total("calls") == "630")
        #expect(try await reopened.dailyAnswers() == Self.reference(early + late))
    }

    @Test func aMeterChangedOrDeletedUnderItsBuildStartsOverOrStops() async throws {
        let (store, early) = try await Self.storeBuildingThreeMeters()
        let tokens = try #require(store.meter(idOrSlug: "tokens"))
        let users = try #require(store.meter(idOrSlug: "users"))
        while store.build(of: tokens.id)?.doneSeq ?? 0 < 300 { try await store.buildNextChunk() }

        let late = Self.events(600..<700)
        try await Self.ingest(Array(late[..<50]), into: store, batch: 50)
        var update = MeterUpdate()
        update.groupBy = ["m": try JSONPath(parsing: "$.m"), "user": try JSONPath(parsing: "$.user")]
        _ = try await store.updateMeter(idOrSlug: "tokens", update)
        #expect(store.build(of: tokens.id) == MeterBuild(number: 2, fromSeq: 0, targetSeq: 650, doneSeq: 0))
        try await store.deleteMeter(idOrSlug: "users")
        #expect(store.build(of: users.id) == nil)
        try await Self.ingest(Array(late[50...]), into: store, batch: 50)
        try await store.finishBuilds()

        var changed = Self.specs[0]
        changed.groupBy = update.groupBy ?? [:]
        #expect(try await store.dailyAnswers() == Self.reference(early + late, specs: [changed, Self.specs[2]]))
    }
}

extension MeterBuildTests {
    @Test func slotDataChangedUnderABuildStartsEveryBuildOver() async throws {
        let (store, early) = try await Self.storeBuildingThreeMeters()
        for _ in 0..<3 { try await store.buildNextChunk() }
        #expect(store.runningBuilds.count == 3)

        // Customers c0…c8 over 4 slots: delete the slot of c3 while every meter is mid-build. Every meter's build
        // starts over (a new number) on the events that remain, up to the shard's position.
        let slot = SlotTable.slot(of: "c3", slotCount: 4)
        let deleted = try await store.deleteSlots([slot], slotCount: 4)
        let kept = early.filter { SlotTable.slot(of: $0.subject, slotCount: 4) != slot }
        #expect(deleted == early.count - kept.count)
        #expect(Set(store.runningBuilds.values) == [MeterBuild(number: 2, fromSeq: 0, targetSeq: 600, doneSeq: 0)])
        #expect(store.runningBuilds.count == 3)
        // A chunk read before the delete is dropped, never counted.
        try await store.finishBuilds()
        #expect(try await store.dailyAnswers() == Self.reference(kept))
    }
}

extension ShardStore {
    /// `rows` for a meter that may still be back-filling.
    func rows(_ slug: String, _ query: MeterQuery, allowPartial: Bool) async throws -> [MeterQueryRow] {
        let meter = self.meter(idOrSlug: slug)!
        let calendar = try query.validate(for: meter).get()
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        try await accumulate(
            meter: meter, query: query, calendar: calendar, allowPartial: allowPartial, into: &accumulator)
        return try accumulator.result(now: query.to ?? .now)
    }
}
