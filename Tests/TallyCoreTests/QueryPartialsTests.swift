import Testing

@testable import TallyCore

@Suite struct QueryPartialsTests {
    func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    func meter(_ aggregation: MeterAggregation) -> MeterDefinition {
        MeterDefinition(
            id: "m1",
            spec: MeterSpec(
                slug: "m", aggregation: aggregation, eventType: "e",
                valueProperty: aggregation == .count ? nil : try! JSONPath(parsing: "$.v"),
                groupBy: ["model": try! JSONPath(parsing: "$.model")]),
            createdAt: Timestamp(micros: 0)
        )
    }

    /// (minute offset, subject, model, value, unique)
    let events: [(Int64, String, String?, String, String)] = [
        (0, "a", "x", "1.5", "u1"), (1, "b", "y", "-2", "u2"), (61, "a", "x", "4", "u1"),
        (62, "c", nil, "8.25", "u3"), (62, "b", "y", "8.25", "u2"), (125, "a", "x", "0.000000001", "u4"),
    ]

    func feed(_ accumulator: inout QueryAccumulator, _ items: some Sequence<(Int64, String, String?, String, String)>) {
        for (minute, subject, model, value, unique) in items {
            var partial = PartialAggregate()
            let time = Timestamp(micros: t("2024-03-31T00:00:00Z").micros + minute * Timestamp.microsPerMinute)
            partial.add(
                MeterSample(amount: Amount(parsing: value)!, uniqueValue: Identifier(unique), groupValues: [:]),
                at: time)
            accumulator.add(time: time, subject: subject, groupValues: ["model": model], partial: partial)
        }
    }

    @Test(arguments: [MeterAggregation.sum, .count, .uniqueCount, .avg, .min, .max, .latest])
    func shardsMergedThroughJSONEqualOneStore(aggregation: MeterAggregation) throws {
        let calendar = WindowCalendar(timeZoneIdentifier: "Europe/Berlin")!
        for query in [
            MeterQuery(
                from: t("2024-03-31T00:00:00Z"), to: t("2024-04-01T00:00:00Z"), windowSize: .hour,
                windowTimeZone: "Europe/Berlin", groupBy: ["subject", "model"]),
            MeterQuery(to: t("2024-04-01T00:00:00Z")),
            MeterQuery(to: t("2024-04-01T00:00:00Z"), windowSize: .day, subjects: ["a", "c"]),
        ] {
            var single = QueryAccumulator(meter: meter(aggregation), query: query, calendar: calendar)
            feed(&single, events)
            var merged = QueryAccumulator(meter: meter(aggregation), query: query, calendar: calendar)
            for shard in 0..<3 {
                var part = QueryAccumulator(meter: meter(aggregation), query: query, calendar: calendar)
                feed(&part, events.enumerated().filter { $0.offset % 3 == shard }.map(\.element))
                let wire = try! JSONParser.parse(JSONWriter.string(part.partialsJSON))
                let mergedShard = merged.merge(partialsJSON: wire)
                #expect(mergedShard)
            }
            #expect(try merged.result(now: t("2024-05-01T00:00:00Z")) == single.result(now: t("2024-05-01T00:00:00Z")))
        }
    }

    @Test func malformedPartialsMergeNothing() throws {
        let query = MeterQuery(to: t("2024-04-01T00:00:00Z"), groupBy: ["model"])
        var accumulator = QueryAccumulator(
            meter: meter(.sum), query: query, calendar: WindowCalendar(timeZoneIdentifier: "UTC")!)
        let good: JSONValue = .object([
            "windowStart": .null, "subject": .null, "groups": .array([.string("x")]),
            "partial": PartialAggregate(count: 1, sum: Amount(2), min: Amount(2), max: Amount(2), latest: nil).json,
        ])
        let bad: JSONValue = .object(["windowStart": .null, "subject": .null, "groups": .array([]), "partial": .null])
        let rejected = accumulator.merge(partialsJSON: .object(["earliest": .null, "rows": .array([good, bad])]))
        #expect(!rejected)
        #expect(try accumulator.result(now: t("2024-05-01T00:00:00Z")).isEmpty)
        let accepted = accumulator.merge(partialsJSON: .object(["earliest": .null, "rows": .array([good])]))
        #expect(accepted)
        #expect(try accumulator.result(now: t("2024-05-01T00:00:00Z")).map(\.value) == [Amount(2)])
    }
}
