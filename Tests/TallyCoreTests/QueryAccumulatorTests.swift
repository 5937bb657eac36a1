import Testing

@testable import TallyCore

@Suite struct QueryAccumulatorTests {
    func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    let meter = MeterDefinition(
        id: "m1",
        spec: MeterSpec(
            slug: "tokens", aggregation: .sum, eventType: "prompt", valueProperty: try! JSONPath(parsing: "$.v"),
            groupBy: ["model": try! JSONPath(parsing: "$.model")]),
        createdAt: Timestamp(micros: 0)
    )

    func one(_ value: Int) -> PartialAggregate {
        var partial = PartialAggregate()
        partial.add(MeterSample(amount: Amount(value), uniqueValue: nil, groupValues: [:]), at: Timestamp(micros: 0))
        return partial
    }

    func feed(_ accumulator: inout QueryAccumulator, _ items: [(String, String, String?, Int)]) {
        for (time, subject, model, value) in items {
            accumulator.add(time: t(time), subject: subject, groupValues: ["model": model], partial: one(value))
        }
    }

    let samples: [(String, String, String?, Int)] = [
        ("2024-01-01T00:00:00Z", "a", "x", 1), ("2024-01-01T00:30:00Z", "b", "y", 2),
        ("2024-01-01T01:10:00Z", "a", "x", 4), ("2024-01-01T01:20:00Z", "a", nil, 8),
    ]

    @Test func hourlyWindowsPerSubjectAndModel() throws {
        let query = MeterQuery(
            from: t("2024-01-01T00:00:00Z"), to: t("2024-01-01T02:00:00Z"), windowSize: .hour,
            groupBy: ["subject", "model"])
        var accumulator = QueryAccumulator(
            meter: meter, query: query, calendar: WindowCalendar(timeZoneIdentifier: "UTC")!)
        feed(&accumulator, samples)
        let rows = try accumulator.result(now: t("2024-01-02T00:00:00Z"))
        #expect(
            rows.map { "\($0.windowStart) \($0.subject ?? "-") \(($0.groupBy["model"] ?? nil) ?? "null") \($0.value)" }
                == [
                    "2024-01-01T00:00:00Z a x 1", "2024-01-01T00:00:00Z b y 2",
                    "2024-01-01T01:00:00Z a null 8", "2024-01-01T01:00:00Z a x 4",
                ])
        #expect(rows[0].windowEnd == t("2024-01-01T01:00:00Z"))
    }

    @Test func wholeRangeWithFilters() throws {
        let query = MeterQuery(
            from: t("2024-01-01T00:00:00Z"), to: t("2024-01-02T00:00:00Z"), filterGroupBy: ["model": ["x"]])
        var accumulator = QueryAccumulator(
            meter: meter, query: query, calendar: WindowCalendar(timeZoneIdentifier: "UTC")!)
        feed(&accumulator, samples)
        let rows = try accumulator.result(now: t("2024-01-03T00:00:00Z"))
        #expect(
            rows == [
                MeterQueryRow(
                    value: Amount(5), windowStart: t("2024-01-01T00:00:00Z"), windowEnd: t("2024-01-02T00:00:00Z"),
                    subject: nil, groupBy: [:])
            ])
    }

    @Test func subjectFilterAddsSubjectToRows() throws {
        let query = MeterQuery(to: t("2024-01-02T00:00:00Z"), subjects: ["b"])
        var accumulator = QueryAccumulator(
            meter: meter, query: query, calendar: WindowCalendar(timeZoneIdentifier: "UTC")!)
        feed(&accumulator, samples)
        #expect(
            try accumulator.result(now: t("2024-01-03T00:00:00Z")) == [
                MeterQueryRow(
                    value: Amount(2), windowStart: t("2024-01-01T00:30:00Z"), windowEnd: t("2024-01-02T00:00:00Z"),
                    subject: "b", groupBy: [:])
            ])
    }

    @Test func mergedAccumulatorsEqualOne() throws {
        let query = MeterQuery(
            from: t("2024-01-01T00:00:00Z"), to: t("2024-01-02T00:00:00Z"), windowSize: .minute, groupBy: ["model"])
        let calendar = WindowCalendar(timeZoneIdentifier: "UTC")!
        var all = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        feed(&all, samples)
        var left = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        feed(&left, Array(samples[0..<2]))
        var right = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        feed(&right, Array(samples[2...]))
        right.merge(left)
        #expect(try right.result(now: .init(micros: 0)) == all.result(now: .init(micros: 0)))
    }

    @Test func validationNamesEveryProblem() throws {
        let query = MeterQuery(
            from: t("2024-01-02T00:00:00Z"), to: t("2024-01-01T00:00:00Z"), windowTimeZone: "Nowhere/City",
            groupBy: ["subject", "region"], filterGroupBy: ["tier": ["a"]])
        guard case .failure(let failure) = query.validate(for: meter) else {
            Issue.record("expected failure")
            return
        }
        #expect(
            failure.errors == [
                FieldError(field: "from", reason: "must not be after to"),
                FieldError(field: "windowTimeZone", reason: "unknown IANA time zone \"Nowhere/City\""),
                FieldError(field: "groupBy", reason: "meter tokens has no group \"region\""),
                FieldError(field: "filterGroupBy.tier", reason: "meter tokens has no group \"tier\""),
            ])
    }
}
