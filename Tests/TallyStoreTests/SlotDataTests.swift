import TallyCore
import TallyTestSupport
import Testing

@testable import TallyStore

/// Moving slots between shards: one slot set exported from a shard, installed on another and deleted from the first
/// leaves every answer where it was (the moved customers' on the new shard, everyone else's on the old), keeps
/// customers' ids and ingestion times, and never reuses a position.
@Suite struct SlotDataTests {
    static let slotCount = 16
    static let customers = (0..<12).map { "c\($0)" }

    static func events() -> [CloudEvent] {
        var random = SplitMix64(seed: 7)
        return (0..<600).map { index in
            let micros = t("2024-05-01T00:00:00Z").micros + Int64.random(in: 0..<(3 * 86_400_000_000), using: &random)
            return CloudEvent(
                id: "e\(index)", source: "s", type: "prompt",
                subject: customers[Int.random(in: 0..<customers.count, using: &random)],
                time: Timestamp(micros: micros),
                data: .object([
                    "v": .string("\(Int.random(in: 0...900, using: &random)).5"),
                    "m": .string(["a", "b"][Int.random(in: 0..<2, using: &random)]),
                    "user": .string("u\(Int.random(in: 0..<30, using: &random))"),
                ]))
        }
    }

    static func makeStore() async throws -> ShardStore {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum, groupBy: ["m": "$.m"]))
        _ = try await store.createMeter(spec("users", .uniqueCount, value: "$.user"))
        _ = try await store.createMeter(spec("calls", .count, value: nil))
        return store
    }

    @Test func aSlotSetMovesWithEveryAnswerAndNoPositionReused() async throws {
        let source = try await Self.makeStore()
        let all = Self.events()
        try await source.ingest(Array(all[..<400]))
        try await source.flushAggregates()
        try await source.ingest(Array(all[400...]) + [all[3]])
        let before = try await source.dailyAnswers()
        let positionBefore = source.position
        #expect(positionBefore == 600)
        let subjectsBefore = try await source.subjects(limit: 100)

        let moving: Set<Int> = Set(["c1", "c4", "c9"].map { SlotTable.slot(of: $0, slotCount: Self.slotCount) })
        let movedCustomers = Set(Self.customers.filter { moving.contains(SlotTable.slot(of: $0, slotCount: 16)) })
        let movedEvents = all.filter { movedCustomers.contains($0.subject) }.count
        let whole = try await source.exportSlots(moving, slotCount: Self.slotCount)
        #expect(whole.through == 600 && whole.sourcePosition == 600)
        #expect(Set(whole.subjects.map(\.key)) == movedCustomers)
        #expect(whole.events.count == movedEvents)
        #expect(whole.events.map(\.position) == whole.events.map(\.position).sorted())

        // The same copy in pieces of at most 25 events, each starting where the last ended.
        let target = try await Self.makeStore()
        try await target.ingest([all[0]].filter { !movedCustomers.contains($0.subject) })
        var pieces: [SlotData] = []
        var after: Int64 = 0
        while after < 600 {
            let piece = try await source.exportSlots(moving, slotCount: Self.slotCount, after: after, maxEvents: 25)
            #expect(piece.after == after && piece.events.count <= 25 && piece.through > after)
            pieces.append(piece)
            after = piece.through
        }
        #expect(pieces.flatMap(\.events) == whole.events)
        await #expect(throws: SlotDataError.gap(copiedThrough: 0, after: pieces[1].after)) {
            try await target.installSlots(pieces[1], cursor: "move-1/w1")
        }
        var installed = 0
        for piece in pieces { installed += try await target.installSlots(piece, cursor: "move-1/w1") }
        #expect(installed == movedEvents)
        // A piece installed again adds nothing; so does the whole copy under another name (de-duplicated).
        #expect(try await target.installSlots(pieces[0], cursor: "move-1/w1") == 0)
        #expect(try await target.installSlots(whole, cursor: "move-2/w1") == 0)
        #expect(try await source.deleteSlots(moving, slotCount: Self.slotCount) == movedEvents)

        let afterSource = try await source.dailyAnswers()
        let afterTarget = try await target.dailyAnswers()
        for slug in ["tokens", "users", "calls"] {
            let moved = before[slug]!.filter { movedCustomers.contains($0.subject!) }
            let stayed = before[slug]!.filter { !movedCustomers.contains($0.subject!) }
            #expect(afterSource[slug] == stayed, "\(slug) on the source")
            #expect(afterTarget[slug]!.filter { movedCustomers.contains($0.subject!) } == moved, "\(slug) moved")
        }
        let totalBefore = try #require(try await source.total("calls"))
        #expect(Int(totalBefore) == 600 - movedEvents)
        #expect(source.eventCount == Int64(600 - movedEvents))
        #expect(
            try await target.subjects(limit: 100).filter { movedCustomers.contains($0.key) }
                == subjectsBefore.filter { movedCustomers.contains($0.key) })
        #expect(
            try await source.subjects(limit: 100).map(\.key)
                == Self.customers.filter { !movedCustomers.contains($0) }.sorted())
        // The moved customers' events are gone from the source, de-dup entries included: sending one again counts it.
        let again = try #require(all.first { movedCustomers.contains($0.subject) })
        try await source.ingest([again])
        #expect(source.position == positionBefore + 1)
        #expect(try await source.total("calls") == "\(600 - movedEvents + 1)")
    }

    @Test func slotsOutsideTheSlotCountAreRefused() async throws {
        let store = try await Self.makeStore()
        await #expect(throws: SlotDataError.invalidSlot(16, slotCount: 16)) {
            try await store.exportSlots([3, 16], slotCount: 16)
        }
        await #expect(throws: SlotDataError.invalidSlot(0, slotCount: 0)) {
            try await store.deleteSlots([], slotCount: 0)
        }
        let foreign = SlotData(
            slots: [SlotTable.slot(of: "c1", slotCount: 16)], slotCount: 16, after: 0, through: 1, sourcePosition: 1,
            subjects: [],
            events: [
                SlotEvent(
                    position: 1, ingested: t("2024-05-01T00:00:00Z"), time: t("2024-05-01T00:00:00Z"),
                    body: #"{"specversion":"1.0","id":"x","source":"s","type":"prompt","subject":"c4","data":{}}"#)
            ])
        if SlotTable.slot(of: "c4", slotCount: 16) != SlotTable.slot(of: "c1", slotCount: 16) {
            await #expect(throws: SlotDataError.invalidEvent(position: 1)) {
                try await store.installSlots(foreign, cursor: "m")
            }
        }
        #expect(store.eventCount == 0)
    }

    @Test func anEventSentAgainAfterItsDedupWindowMovesAsTwoEvents() async throws {
        let source = try await Self.makeStore()
        let again = event("x1", subject: "c1", time: "2024-05-01T00:00:00Z", data: #"{"v":"2","m":"a","user":"u"}"#)
        try await source.ingest([again])
        // The window passes: the key is pruned, and the same event is stored (and counted) a second time.
        let later = Timestamp(micros: Timestamp.now.micros + 40 * 86_400 * Timestamp.microsPerSecond)
        #expect(try await source.pruneDedup(now: later) == 1)
        try await source.ingest([again])
        #expect(source.eventCount == 2)
        let slot = SlotTable.slot(of: "c1", slotCount: Self.slotCount)
        let data = try await source.exportSlots([slot], slotCount: Self.slotCount)
        #expect(data.events.count == 2)
        let target = try await Self.makeStore()
        #expect(try await target.installSlots(data, cursor: "move-1/w1") == 2)
        #expect(try await target.total("calls") == "2")
        // The same copy again, under another name, is recognised event by event: nothing is added.
        #expect(try await target.installSlots(data, cursor: "move-2/w1") == 0)
        #expect(try await target.total("calls") == "2")
        // A client retry after the move is de-duplicated against the later copy.
        try await target.ingest([again])
        #expect(target.eventCount == 2)
    }
}
