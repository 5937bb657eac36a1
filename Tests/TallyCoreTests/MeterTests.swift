import Testing

@testable import TallyCore

@Suite struct MeterTests {
    func json(_ text: String) -> JSONValue { try! JSONParser.parse(text) }
    let time = Timestamp(rfc3339: "2024-01-01T00:00:00Z")!

    func meter(
        _ aggregation: MeterAggregation, value: String? = "$.v", groupBy: [String: String] = [:]
    ) -> MeterDefinition {
        let spec = MeterSpec(
            slug: "m", aggregation: aggregation, eventType: "t",
            valueProperty: value.map { try! JSONPath(parsing: $0) },
            groupBy: groupBy.mapValues { try! JSONPath(parsing: $0) })
        return MeterDefinition(id: "01", spec: spec, createdAt: time)
    }

    func event(_ data: String, type: String = "t") -> CloudEvent {
        CloudEvent(id: "e", source: "s", type: type, subject: "c", time: time, data: json(data))
    }

    @Test(arguments: [
        ("tokens_total", true), ("a", true), ("a1_b2", true), ("", false), ("Tokens", false), ("a__b", false),
        ("_a", false), ("a_", false), ("a-b", false), (String(repeating: "a", count: 65), false),
    ])
    func slugRules(slug: String, valid: Bool) {
        #expect(MeterSpec.isValidSlug(slug) == valid)
    }

    @Test func parsesUpstreamMeterCreate() throws {
        let spec = try MeterSpec.parse(
            json(
                #"{"slug":"tokens_total","aggregation":"SUM","eventType":"prompt","valueProperty":"$.tokens","#
                    + #""groupBy":{"model":"$.model"},"name":"Tokens","eventFrom":"2024-01-01T00:00:00Z"}"#
            )
        ).get()
        #expect(spec.slug == "tokens_total")
        #expect(spec.aggregation == .sum)
        #expect(spec.groupBy["model"]?.description == "$.model")
        #expect(spec.eventFrom == time)
        #expect(spec.name == "Tokens")
    }

    @Test func reportsEveryInvalidMeterField() {
        guard
            case .failure(let failure) = MeterSpec.parse(
                json(
                    #"{"slug":"Bad-Slug","aggregation":"MEDIAN","valueProperty":"tokens","#
                        + #""groupBy":{"subject":"$.s","ok":"$.x","b":5}}"#
                ))
        else {
            Issue.record("expected failure")
            return
        }
        #expect(
            Set(failure.errors) == [
                FieldError(field: "slug", reason: "must match ^[a-z0-9]+(?:_[a-z0-9]+)*$ and be at most 64 characters"),
                FieldError(
                    field: "aggregation", reason: "must be one of SUM, COUNT, UNIQUE_COUNT, AVG, MIN, MAX, LATEST"),
                FieldError(field: "eventType", reason: "is required"),
                FieldError(field: "valueProperty", reason: "invalid JSONPath \"tokens\": must start with '$'"),
                FieldError(field: "groupBy.subject", reason: "\"subject\" is reserved"),
                FieldError(field: "groupBy.b", reason: "must be a JSONPath string"),
            ])
    }

    @Test func valuePropertyRequiredExceptForCount() {
        #expect((try? MeterSpec.parse(json(#"{"slug":"a","aggregation":"SUM","eventType":"t"}"#)).get()) == nil)
        #expect((try? MeterSpec.parse(json(#"{"slug":"a","aggregation":"COUNT","eventType":"t"}"#)).get()) != nil)
    }

    @Test func storedJSONRoundTrips() {
        var definition = meter(.avg, groupBy: ["model": "$.m"])
        definition.metadata = ["team": "ai"]
        definition.description = "d"
        #expect(MeterDefinition(json: definition.json) == definition)
    }

    @Test func samplesValuesAndGroups() throws {
        let m = meter(.sum, groupBy: ["model": "$.m", "region": "$.r", "flag": "$.f"])
        let sample = try m.sample(event(#"{"v":"2.5","m":"gpt","f":true}"#)).get()
        #expect(sample.amount == Amount(parsing: "2.5"))
        #expect(sample.groupValues == ["model": "gpt", "region": String?.none, "flag": "true"])
        #expect(sample.groupKey == #"{"flag":"true","model":"gpt","region":null}"#)
    }

    @Test func unusableValuesGiveReasons() {
        let m = meter(.sum)
        #expect(m.sample(event(#"{}"#)).failureReason == "valueProperty $.v is missing from data")
        #expect(m.sample(event(#"{"v":"abc"}"#)).failureReason == "valueProperty $.v is not numeric: \"abc\"")
        #expect(
            m.sample(event(#"{"v":[1]}"#)).failureReason
                == "valueProperty $.v must be a number or numeric string, got array")
        #expect(
            m.sample(event(#"{"v":0.0000000001}"#)).failureReason
                == "valueProperty $.v has more than 9 fractional digits or is out of range")
        #expect(
            meter(.uniqueCount).sample(event(#"{"v":{}}"#)).failureReason
                == "valueProperty $.v must be a string or number for UNIQUE_COUNT, got object")
        #expect(meter(.count, value: nil).sample(event(#"{}"#)).failureReason == nil)
    }

    @Test func matchesTypeAndEventFrom() {
        var m = meter(.count, value: nil)
        #expect(m.matches(event("{}")))
        #expect(!m.matches(event("{}", type: "other")))
        m.eventFrom = Timestamp(micros: time.micros + 1)
        #expect(!m.matches(event("{}")))
    }

    @Test func updateRejectsImmutableFieldsUnlessUnchanged() throws {
        let current = meter(.sum, groupBy: ["a": "$.a"])
        let same = try MeterUpdate.parse(
            json(#"{"slug":"m","aggregation":"SUM","name":"New","groupBy":{"b":"$.b"}}"#), current: current
        ).get()
        let updated = same.applied(to: current, now: Timestamp(micros: time.micros + 5))
        #expect(updated.name == "New")
        #expect(updated.groupBy.keys.sorted() == ["b"])
        #expect(updated.updatedAt.micros == time.micros + 5)
        guard
            case .failure(let failure) = MeterUpdate.parse(
                json(#"{"aggregation":"MAX","eventType":"x"}"#), current: current)
        else {
            Issue.record("expected failure")
            return
        }
        #expect(failure.errors.map(\.field).sorted() == ["aggregation", "eventType"])
    }
}

extension Result where Failure == SampleError {
    var failureReason: String? {
        if case .failure(let error) = self { return error.reason }
        return nil
    }
}
