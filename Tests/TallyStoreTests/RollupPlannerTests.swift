import GRDB
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyStore

/// The planner's answers (days and hours from rollups, minutes at edges, pending partials, raw events at unaligned
/// ends) must equal a brute-force accumulation of the same events, one by one, for every aggregation, window size,
/// time zone (including :30 and :45 offsets and DST days), grouping and customer filter.
@Suite struct RollupPlannerTests {
    static let start = t("2024-03-08T00:00:00Z").micros
    /// 33 days: the US DST start (March 10) and Adelaide's DST end (April 7) are inside.
    static let span: Int64 = 33 * 86_400 * 1_000_000
    static let zones = ["UTC", "America/New_York", "Asia/Kolkata", "Australia/Adelaide", "Asia/Kathmandu"]

    static func makeEvents() -> [CloudEvent] {
        var random = SplitMix64(seed: 2024)
        return (0..<1_500).map { index in
            let micros = start + Int64.random(in: 0..<span, using: &random)
            let value = "\(Int.random(in: -50...500, using: &random)).\(Int.random(in: 0...99, using: &random))"
            return CloudEvent(
                id: "e\(index)", source: "s", type: "prompt", subject: "c\(Int.random(in: 0..<6, using: &random))",
                time: Timestamp(micros: micros),
                data: .object([
                    "v": .string(value), "m": .string(["a", "b", "c"][Int.random(in: 0..<3, using: &random)]),
                    "user": .string("u\(Int.random(in: 0..<40, using: &random))"),
                ]))
        }
    }

    /// A random query: any zone, window size, grouping and filter; ends on days, hours, minutes or anywhere.
    static func randomQuery(_ random: inout SplitMix64) -> MeterQuery {
        func instant() -> Timestamp {
            let micros = start - 86_400_000_000 + Int64.random(in: 0..<(span + 2 * 86_400_000_000), using: &random)
            let units: [Int64] = [86_400_000_000, 3_600_000_000, 1_800_000_000, 60_000_000, 1]
            let unit = units[Int.random(in: 0..<units.count, using: &random)]
            return Timestamp(micros: micros - ((micros % unit) + unit) % unit)
        }
        let a = instant()
        let b = instant()
        let sizes: [WindowSize?] = [nil, .hour, .day, .day, .month]
        var query = MeterQuery(
            from: min(a, b), to: max(a, b),
            windowSize: sizes[Int.random(in: 0..<sizes.count, using: &random)],
            windowTimeZone: zones[Int.random(in: 0..<zones.count, using: &random)])
        if Int.random(in: 0..<5, using: &random) == 0 { query.from = nil }
        let groupings: [[String]] = [[], ["m"], ["subject"], ["subject", "m"]]
        query.groupBy = groupings[Int.random(in: 0..<groupings.count, using: &random)]
        if Int.random(in: 0..<4, using: &random) == 0 { query.subjects = ["c1", "c4"] }
        return query
    }

    /// The rows of `query` accumulated event by event (edge events at their time, others at their minute).
    static func bruteForce(
        _ meter: MeterDefinition, _ query: MeterQuery, _ events: [CloudEvent]
    ) throws -> [MeterQueryRow] {
        let calendar = try query.validate(for: meter).get()
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        let to = query.to!
        for event in events where event.time < to && query.from.map({ event.time >= $0 }) ?? true {
            guard case .success(let sample) = meter.sample(event) else { continue }
            var partial = PartialAggregate()
            partial.add(sample, at: event.time)
            let minute = event.time.minuteFloor
            let inWholeMinutes = minute >= (query.from?.minuteCeiling ?? minute) && minute < to.minuteFloor
            accumulator.add(
                time: inWholeMinutes ? minute : event.time, subject: event.subject, groupValues: sample.groupValues,
                partial: partial)
        }
        return try accumulator.result(now: to)
    }

    /// Every aggregation, with flushes after every batch (tiny pending limit) and with half flushed, half pending.
    @Test(arguments: MeterAggregation.allCases, [1, 1_000_000])
    func plannedAnswersMatchBruteForce(aggregation: MeterAggregation, maxPendingKeys: Int) async throws {
        var configuration = StoreConfiguration()
        configuration.maxPendingAggregateKeys = maxPendingKeys
        let store = try StoreFixture().open(configuration)
        let events = Self.makeEvents()
        try await store.ingest(Array(events[..<500]))
        let value: String? =
            switch aggregation {
            case .count: nil
            case .uniqueCount: "$.user"
            default: "$.v"
            }
        let meter = try await store.createMeter(spec("m", aggregation, value: value, groupBy: ["m": "$.m"]))
        for chunk in stride(from: 500, to: 1_000, by: 100) {
            try await store.ingest(Array(events[chunk..<(chunk + 100)]))
        }
        try await store.flushAggregates()
        for chunk in stride(from: 1_000, to: 1_500, by: 100) {
            try await store.ingest(Array(events[chunk..<(chunk + 100)]))
        }
        var random = SplitMix64(seed: UInt64(maxPendingKeys) &+ UInt64(aggregation.rawValue.utf8.count))
        for _ in 0..<40 {
            let query = Self.randomQuery(&random)
            let expected = try Self.bruteForce(meter, query, events)
            let rows = try await store.rows("m", query)
            #expect(
                rows == expected,
                """
                \(query.windowSize?.rawValue ?? "total") in \(query.windowTimeZone), \
                \(query.from.map(String.init(describing:)) ?? "-")..<\(query.to!), by \(query.groupBy), \
                subjects \(query.subjects): \(rows.count) rows, expected \(expected.count)
                """)
        }
    }

    /// After a flush, month queries read days and hours, not minutes: the rollups hold every event.
    @Test func rollupsHoldEveryFlushedEvent() async throws {
        let store = try StoreFixture().open()
        let events = Self.makeEvents()
        _ = try await store.createMeter(spec("m", .count, value: nil))
        try await store.ingest(events)
        try await store.flushAggregates()
        let counts = try await store.aggregates.read { db in
            try [
                "total_agg WHERE resolution = 60000000", "total_agg WHERE resolution = 3600000000",
                "total_agg WHERE resolution = 86400000000", "rollup_agg WHERE resolution = 3600000000",
                "rollup_agg WHERE resolution = 86400000000",
            ].map { try Int.fetchOne(db, sql: "SELECT sum(count) FROM \($0)") }
        }
        #expect(counts == [1_500, 1_500, 1_500, 1_500, 1_500])
    }
}
