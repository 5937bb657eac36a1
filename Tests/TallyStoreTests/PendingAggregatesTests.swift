import TallyCore
import Testing

@testable import TallyStore

/// Partials pending in memory, flushed into the aggregate tables, or replayed from raw events after a crash
/// must all give the same answers.
@Suite struct PendingAggregatesTests {
    func batch(_ prefix: String, count: Int, value: String = "1.5") -> [CloudEvent] {
        (0..<count).map {
            event(
                "\(prefix)\($0)", subject: "c\($0 % 3)", time: "2024-01-01T00:0\($0 % 10):00Z",
                data: #"{"v": "\#(value)"}"#)
        }
    }

    @Test func answersAreTheSameBeforeAndAfterAFlush() async throws {
        var configuration = StoreConfiguration()
        configuration.maxPendingAggregateKeys = 1_000_000
        configuration.aggregateFlushInterval = .seconds(3600)
        let store = try StoreFixture().open(configuration)
        _ = try await store.createMeter(spec("tokens", .sum))
        try await store.ingest(batch("a", count: 40))
        #expect(try await store.total("tokens") == "60")
        try await store.flushAggregates()
        #expect(try await store.total("tokens") == "60")
        try await store.ingest(batch("b", count: 20))
        #expect(try await store.total("tokens") == "90")
        let subjects = try await store.meterSubjects(meter: store.meter(idOrSlug: "tokens")!, from: nil, to: nil)
        #expect(subjects == ["c0", "c1", "c2"])
    }

    /// The last batch before ingestion goes quiet is flushed too: no later batch is needed to trigger it.
    @Test func partialsAreFlushedWhenIngestionStops() async throws {
        var configuration = StoreConfiguration()
        configuration.maxPendingAggregateKeys = 1_000_000
        configuration.aggregateFlushInterval = .milliseconds(200)
        let store = try StoreFixture().open(configuration)
        _ = try await store.createMeter(spec("tokens", .sum))
        try await store.ingest(batch("a", count: 40))
        var checkpoint: Int64 = 0
        for _ in 0..<100 where checkpoint < 40 {
            try await Task.sleep(for: .milliseconds(100))
            checkpoint = try await store.aggregates.read { try ShardStore.aggregationCheckpoint($0) }
        }
        #expect(checkpoint == 40)
        #expect(store.pending.keyCount == 0)
        #expect(try await store.total("tokens") == "60")
    }

    @Test func replayAfterACrashCountsEveryEventOnce() async throws {
        var configuration = StoreConfiguration()
        configuration.maxPendingAggregateKeys = 1_000_000
        configuration.aggregateFlushInterval = .seconds(3600)
        let fixture = try StoreFixture()
        do {
            let store = try fixture.open(configuration)
            _ = try await store.createMeter(spec("tokens", .sum))
            try await store.ingest(batch("a", count: 10))
            try await store.flushAggregates()
            try await store.ingest(batch("b", count: 10))
            _ = try await store.createMeter(spec("calls", .count, value: nil))
            try await store.ingest(batch("c", count: 10))
            #expect(try await store.total("tokens") == "45")
            #expect(try await store.total("calls") == "30")
        }
        let reopened = try fixture.open(configuration)
        #expect(try await reopened.total("tokens") == "45")
        #expect(try await reopened.total("calls") == "30")
        try await reopened.flushAggregates()
        #expect(try await reopened.total("tokens") == "45")
        #expect(try await fixture.open(configuration).total("calls") == "30")
    }

    @Test func groupByChangeDropsPendingPartialsOfThatMeterOnly() async throws {
        var configuration = StoreConfiguration()
        configuration.maxPendingAggregateKeys = 1_000_000
        configuration.aggregateFlushInterval = .seconds(3600)
        let fixture = try StoreFixture()
        let store = try fixture.open(configuration)
        _ = try await store.createMeter(spec("tokens", .sum))
        _ = try await store.createMeter(spec("other", .sum))
        try await store.ingest(batch("a", count: 10))
        _ = try await store.updateMeter(idOrSlug: "tokens", MeterUpdate(groupBy: ["v": try JSONPath(parsing: "$.v")]))
        #expect(try await store.total("tokens") == "15")
        #expect(try await store.total("other") == "15")
        #expect(try await fixture.open(configuration).total("tokens") == "15")
        #expect(try await fixture.open(configuration).total("other") == "15")
    }
}
