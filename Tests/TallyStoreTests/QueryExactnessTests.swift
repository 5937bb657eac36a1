import TallyCore
import TallyTestSupport
import Testing

@testable import TallyStore

/// The store's answers (pre-aggregated whole minutes plus raw edge minutes) must equal a brute-force
/// aggregation of the same events, for every aggregation and for ranges that do not fall on minutes.
@Suite struct QueryExactnessTests {
    static let base = t("2024-03-09T22:00:00Z").micros

    static func makeEvents() -> [CloudEvent] {
        var random = SplitMix64(seed: 42)
        return (0..<600).map { index in
            let micros = base + Int64.random(in: 0..<(3 * 86_400 * 1_000_000), using: &random)
            let value = "\(Int.random(in: -50...500, using: &random)).\(Int.random(in: 0...999, using: &random))"
            let model = ["a", "b", "c"][Int.random(in: 0..<3, using: &random)]
            let user = "u\(Int.random(in: 0..<20, using: &random))"
            return CloudEvent(
                id: "e\(index)", source: "s", type: "prompt", subject: "c\(index % 5)", time: Timestamp(micros: micros),
                data: .object(["v": .string(value), "m": .string(model), "user": .string(user)]))
        }
    }

    static func expected(
        _ meter: MeterDefinition, _ events: [CloudEvent], from: Timestamp, to: Timestamp
    ) throws -> Amount? {
        var partial = PartialAggregate()
        for event in events where event.time >= from && event.time < to {
            if case .success(let sample) = meter.sample(event) { partial.add(sample, at: event.time) }
        }
        return try partial.value(for: meter.aggregation)
    }

    /// Every aggregation, once with flushes forced all the time (tiny pending limit) and once with none.
    @Test(arguments: MeterAggregation.allCases, [1, 1_000_000])
    func matchesBruteForce(aggregation: MeterAggregation, maxPendingKeys: Int) async throws {
        var configuration = StoreConfiguration()
        configuration.maxPendingAggregateKeys = maxPendingKeys
        let store = try StoreFixture().open(configuration)
        let events = Self.makeEvents()
        try await store.ingest(Array(events[..<300]))
        let value: String? =
            switch aggregation {
            case .count: nil
            case .uniqueCount: "$.user"
            default: "$.v"
            }
        let meter = try await store.createMeter(spec("m", aggregation, value: value, groupBy: ["m": "$.m"]))
        try await store.ingest(Array(events[300...]))
        var random = SplitMix64(seed: 7)
        for _ in 0..<25 {
            let a = Self.base + Int64.random(in: 0..<(3 * 86_400 * 1_000_000), using: &random)
            let b = Self.base + Int64.random(in: 0..<(3 * 86_400 * 1_000_000), using: &random)
            let from = Timestamp(micros: min(a, b))
            let to = Timestamp(micros: max(a, b))
            let rows = try await store.rows("m", MeterQuery(from: from, to: to))
            #expect(try rows.first?.value == Self.expected(meter, events, from: from, to: to), "range \(from)..<\(to)")
        }
    }

    @Test func dailyWindowsInNewYorkAcrossDSTMatchBruteForce() async throws {
        let store = try StoreFixture().open()
        let events = Self.makeEvents()
        let meter = try await store.createMeter(spec("m", .sum, groupBy: ["m": "$.m"]))
        try await store.ingest(events)
        let from = t("2024-03-09T05:00:00Z")
        let to = t("2024-03-13T04:00:00Z")
        let rows = try await store.rows(
            "m", MeterQuery(from: from, to: to, windowSize: .day, windowTimeZone: "America/New_York", groupBy: ["m"]))
        let calendar = WindowCalendar(timeZoneIdentifier: "America/New_York")!
        var expectedRows: [String] = []
        var start = from
        while start < to {
            let window = calendar.window(.day, containing: start)
            for model in ["a", "b", "c"] {
                let matching = events.filter { $0.data["m"] == .string(model) }
                if let value = try Self.expected(meter, matching, from: window.start, to: window.end) {
                    expectedRows.append("\(window.start)..\(window.end) \(model) \(value)")
                }
            }
            start = window.end
        }
        #expect(
            rows.map { "\($0.windowStart)..\($0.windowEnd) \(($0.groupBy["m"] ?? nil) ?? "-") \($0.value)" }
                == expectedRows)
        #expect(
            rows.contains { $0.windowStart == t("2024-03-10T05:00:00Z") && $0.windowEnd == t("2024-03-11T04:00:00Z") })
    }
}
