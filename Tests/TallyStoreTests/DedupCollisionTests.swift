import GRDB
import TallyCore
import Testing

@testable import TallyStore

/// With a 4-bit de-dup hash injected (16 possible keys, so nearly every event collides), every distinct event still
/// counts once and every repeat is still recognised: a key hit is checked against the stored event, and colliding
/// events are remembered by their full (source, id, customer).
@Suite struct DedupCollisionTests {
    static func events() -> [CloudEvent] {
        (0..<200).map { event("e\($0)", subject: "c\($0 % 7)", time: "2024-01-01T00:00:00Z", data: "{}") }
    }

    static func counts(_ store: ShardStore) async throws -> [Int] {
        try await store.pool.read { db in
            [
                try Int.fetchOne(db, sql: "SELECT count(*) FROM dedup_keys") ?? -1,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM dedup_collisions") ?? -1,
            ]
        }
    }

    @Test func collidingKeysNeverDropOrDoubleCountAnEvent() async throws {
        var configuration = StoreConfiguration()
        configuration.dedupHash = .truncated(bits: 4)
        configuration.dedupWindowSeconds = 3600
        let fixture = try StoreFixture()
        let events = Self.events()
        do {
            let store = try fixture.open(configuration)
            _ = try await store.createMeter(spec("calls", .count, value: nil))
            try await store.ingest(Array(events[..<120]) + [events[3], events[119]])
            try await store.ingest(Array(events[100...]) + Array(events[..<50]))
            #expect(try await store.total("calls") == "200")
            #expect(store.eventCount == 200)
            #expect(try await Self.counts(store) == [16, 184])
        }
        let store = try fixture.open(configuration)
        try await store.ingest(Array(events[150...]))
        #expect(try await store.total("calls") == "200")

        // Moving a slot away forgets exactly its customers' entries: their events count again, others' do not.
        let slot = SlotTable.slot(of: "c3", slotCount: 8)
        let moved = Set((0..<7).map { "c\($0)" }.filter { SlotTable.slot(of: $0, slotCount: 8) == slot })
        let movedEvents = events.filter { moved.contains($0.subject) }
        #expect(try await store.deleteSlots([slot], slotCount: 8) == movedEvents.count)
        try await store.ingest(events)
        #expect(try await store.total("calls") == "200")
        #expect(store.eventCount == 200)

        let later = Timestamp(micros: Timestamp.now.micros + 2 * 3_600_000_000)
        #expect(try await store.pruneDedup(now: later) == 200)
        #expect(try await Self.counts(store) == [0, 0])
        try await store.ingest(Array(events[..<10]))
        #expect(try await store.total("calls") == "210")
    }

    /// The production key is 16 bytes and depends on every part: moving bytes between source, id and customer
    /// changes it.
    @Test func keysAreSixteenBytesAndSeparateTheirParts() {
        let key = DedupKey(source: "ab", id: "c", subject: "d", hash: .xxh64Pair)
        #expect(key.bytes.count == 16)
        #expect(key != DedupKey(source: "a", id: "bc", subject: "d", hash: .xxh64Pair))
        #expect(key != DedupKey(source: "ab", id: "", subject: "cd", hash: .xxh64Pair))
        #expect(
            DedupKey(source: "ab", id: "c", subject: "d", hash: .truncated(bits: 4)).bytes.dropFirst().allSatisfy {
                $0 == 0
            })
    }
}
