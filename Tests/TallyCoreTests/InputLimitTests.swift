import Testing

@testable import TallyCore

/// Every bound on outside input: arithmetic at its limits, times, nesting, lengths, query parameters.
@Suite struct InputLimitTests {
    @Test func amountAdditionReportsOverflowInsteadOfTrapping() {
        let largest = Amount(units: .max)
        #expect(largest.adding(Amount(units: 1)) == nil)
        #expect(Amount(units: .min).adding(Amount(units: -1)) == nil)
        #expect(largest.adding(Amount(units: -1)) == Amount(units: .max - 1))
        #expect(Amount(exactly: .max) == Amount(units: Int128(Int64.max) * Amount.unitsPerWhole))
    }

    @Test func eventValuesAreBoundedByMaxEventMagnitude() {
        let meter = MeterDefinition(
            id: "m",
            spec: MeterSpec(
                slug: "s", aggregation: .sum, eventType: "t",
                valueProperty: try! JSONPath(parsing: "$.v")),
            createdAt: Timestamp(micros: 0))
        func sample(_ value: String) -> Result<MeterSample, SampleError> {
            meter.sample(
                CloudEvent(
                    id: "1", source: "s", type: "t", subject: "c", time: Timestamp(micros: 0),
                    data: .object(["v": .number(value)])))
        }
        #expect((try? sample("1000000000000000000").get())?.amount?.description == "1000000000000000000")
        #expect((try? sample("-1000000000000000000").get())?.amount?.description == "-1000000000000000000")
        #expect(throws: SampleError.self) { try sample("1000000000000000000.000000001").get() }
        guard case .failure(let error) = sample("1e29") else {
            Issue.record("1e29 was counted")
            return
        }
        #expect(
            error.message
                == "meter s: valueProperty $.v is out of range: the magnitude of one event's value is at most "
                + "1000000000000000000")
        guard case .failure(let long) = sample("1" + String(repeating: "0", count: 300)) else {
            Issue.record("300 digits were counted")
            return
        }
        #expect(long.reason == "valueProperty $.v has more than 9 fractional digits or is out of range")
    }

    @Test func overflowingSumsAreMarkedAndSurviveMergesAndTheWire() throws {
        var partial = PartialAggregate()
        let big = MeterSample(amount: Amount(units: .max / 2 + 1), uniqueValue: nil, groupValues: [:])
        partial.add(big, at: Timestamp(micros: 1))
        partial.add(big, at: Timestamp(micros: 2))
        #expect(partial.overflowed)
        #expect(throws: AggregateOverflow.self) { try partial.value(for: .sum) }
        #expect(throws: AggregateOverflow.self) { try partial.value(for: .avg) }
        #expect(try partial.value(for: .max) == Amount(units: .max / 2 + 1))
        var merged = PartialAggregate()
        merged.merge(try #require(PartialAggregate(json: partial.json)))
        #expect(merged.overflowed)
        #expect(partial.json["sum"] == .null)
    }

    @Test func aQueryWhoseWindowOverflowsNamesTheMeterAndWindow() throws {
        let meter = MeterDefinition(
            id: "m",
            spec: MeterSpec(
                slug: "tokens", aggregation: .sum, eventType: "t",
                valueProperty: try JSONPath(parsing: "$.v")),
            createdAt: Timestamp(micros: 0))
        let query = MeterQuery(
            from: Timestamp(rfc3339: "2024-01-01T00:00:00Z")!,
            to: Timestamp(rfc3339: "2024-01-02T00:00:00Z")!, windowSize: .day)
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: try query.validate(for: meter).get())
        let half = MeterSample(amount: Amount(units: .max / 2 + 1), uniqueValue: nil, groupValues: [:])
        for minute in 0..<2 {
            var partial = PartialAggregate()
            partial.add(half, at: Timestamp(micros: 1_704_067_200_000_000 + Int64(minute) * Timestamp.microsPerMinute))
            accumulator.add(
                time: Timestamp(micros: 1_704_067_200_000_000 + Int64(minute) * Timestamp.microsPerMinute),
                subject: "c", groupValues: [:], partial: partial)
        }
        #expect(throws: QueryOverflow(meterSlug: "tokens", windowStart: query.from!, windowEnd: query.to!)) {
            try accumulator.result(now: query.to!)
        }
    }

    @Test(arguments: [
        ("0001-01-01T00:00:00Z", true), ("0000-12-31T23:59:59Z", false), ("0001-01-01T00:30:00+01:00", false),
        ("9999-12-31T23:59:59.999999Z", true), ("9999-12-31T23:30:00-01:00", false), ("2024-02-30T00:00:00Z", false),
    ])
    func timesOutsideYears1To9999AreRefused(text: String, accepted: Bool) {
        #expect((Timestamp(rfc3339: text) != nil) == accepted)
    }

    @Test func eventsNestedDeeperThanTheLimitOrWithLongIdentifiersAreRefused() throws {
        func nested(_ depth: Int) -> JSONValue {
            (1..<depth).reduce(JSONValue.object([:])) { inner, _ in .object(["a": inner]) }
        }
        func event(data: JSONValue, id: String = "1") -> JSONValue {
            .object([
                "id": .string(id), "source": .string("s"), "specversion": .string("1.0"), "type": .string("t"),
                "subject": .string("c"), "data": data,
            ])
        }
        let now = Timestamp(micros: 0)
        #expect(
            (try? CloudEvent.validate(event(data: nested(InputLimits.maxEventNestingDepth - 1)), now: now).get()) != nil
        )
        let deep = CloudEvent.validate(event(data: nested(62)), now: now, fieldPrefix: "[0].")
        #expect(
            throws: ValidationFailure([FieldError(field: "[0]", reason: "nests 63 levels deep; at most 32 are allowed")]
            )
        ) {
            try deep.get()
        }
        let long = CloudEvent.validate(event(data: .null, id: String(repeating: "x", count: 1025)), now: now)
        #expect(throws: ValidationFailure([FieldError(field: "id", reason: "must be at most 1024 bytes, got 1025")])) {
            try long.get()
        }
    }

    @Test func queryParametersAreBounded() throws {
        let meter = MeterDefinition(
            id: "m", spec: MeterSpec(slug: "s", aggregation: .count, eventType: "t"),
            createdAt: Timestamp(micros: 0))
        let nul = MeterQuery(windowTimeZone: "Asia/Kolkata\u{0}")
        #expect(
            throws: ValidationFailure([
                FieldError(
                    field: "windowTimeZone",
                    reason: "unknown IANA time zone \"Asia/Kolkata\u{0}\"")
            ])
        ) {
            try nul.validate(for: meter).get()
        }
        #expect((try? MeterQuery(windowTimeZone: "Asia/Kolkata").validate(for: meter).get()) != nil)
        let minutes = MeterQuery(
            from: Timestamp(rfc3339: "2024-01-01T00:00:00Z")!,
            to: Timestamp(rfc3339: "2025-01-01T00:00:00Z")!, windowSize: .minute)
        #expect(
            throws: ValidationFailure([
                FieldError(
                    field: "windowSize",
                    reason: "the range holds more than 100000 MINUTE "
                        + "windows (maxQueryWindows); use a larger window or a shorter range")
            ])
        ) { try minutes.validate(for: meter).get() }
        var hours = minutes
        hours.windowSize = .hour
        #expect((try? hours.validate(for: meter).get()) != nil)
    }

    @Test func echoedInputIsCut() {
        #expect("short".echoed == "short")
        #expect(String(repeating: "é", count: 100).echoed == String(repeating: "é", count: 64) + "…(200 bytes)")
    }
}
