import TallyCore
import Testing

@testable import TallyStore

/// When pending partials reach `maxPendingAggregateKeysBeforeRefusal`, a batch is refused before anything of it is
/// stored, and accepted again once a flush caught up.
@Suite struct BackPressureTests {
    @Test func batchesAreRefusedWhileAggregatesAreBehindAndNothingOfThemIsStored() async throws {
        var configuration = StoreConfiguration()
        configuration.maxPendingAggregateKeys = 1_000_000
        configuration.aggregateFlushInterval = .seconds(3_600)
        configuration.maxPendingAggregateKeysBeforeRefusal = 3
        let store = try StoreFixture().open(configuration)
        _ = try await store.createMeter(spec("m", .sum))
        try await store.ingest([
            event("a", subject: "c1", time: "2024-03-01T10:00:00Z", data: #"{"v":1}"#),
            event("b", subject: "c2", time: "2024-03-01T10:00:00Z", data: #"{"v":2}"#),
            event("c", subject: "c3", time: "2024-03-01T10:00:00Z", data: #"{"v":4}"#),
        ])
        await #expect(throws: StoreError.aggregatesBehind) {
            try await store.ingest([event("d", subject: "c4", time: "2024-03-01T10:00:00Z", data: #"{"v":8}"#)])
        }
        #expect(store.eventCount == 3)
        #expect(try await store.total("m", from: "2024-01-01T00:00:00Z") == "7")
        try await store.flushAggregates()
        try await store.ingest([event("d", subject: "c4", time: "2024-03-01T10:00:00Z", data: #"{"v":8}"#)])
        #expect(store.eventCount == 4)
        #expect(try await store.total("m", from: "2024-01-01T00:00:00Z") == "15")
    }
}
