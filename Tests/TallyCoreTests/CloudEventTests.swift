import Testing

@testable import TallyCore

@Suite struct CloudEventTests {
    let now = Timestamp(rfc3339: "2024-05-01T00:00:00Z")!

    func json(_ text: String) -> JSONValue { try! JSONParser.parse(text) }

    @Test func acceptsAValidEventAndDefaultsTime() throws {
        let event = try CloudEvent.validate(
            json(#"{"id":"e1","source":"app","specversion":"1.0","type":"prompt","subject":"c1","data":{"t":1}}"#),
            now: now
        ).get()
        #expect(event.time == now)
        #expect(event.data == .object(["t": .number("1")]))
        #expect(event.subject == "c1")
        #expect(event.timeAssigned)
    }

    @Test func reportsEveryInvalidField() {
        let result = CloudEvent.validate(
            json(
                #"{"id":"","source":3,"specversion":"0.3","subject":"c","time":"noon","data":[1],"#
                    + #""datacontenttype":"text/xml"}"#
            ), now: now)
        guard case .failure(let failure) = result else {
            Issue.record("expected failure")
            return
        }
        #expect(
            failure.errors == [
                FieldError(field: "id", reason: "must not be empty"),
                FieldError(field: "source", reason: "must be a string, got number"),
                FieldError(field: "type", reason: "is required"),
                FieldError(field: "specversion", reason: "must be \"1.0\", got \"0.3\""),
                FieldError(field: "time", reason: "must be an RFC 3339 date-time in years 0001–9999, got \"noon\""),
                FieldError(field: "data", reason: "must be a JSON object, got array"),
                FieldError(
                    field: "datacontenttype", reason: "only \"application/json\" is supported, got \"text/xml\""),
            ])
    }

    @Test func batchReportsIndexesAndRejectsShapes() {
        let body = json(
            #"[{"id":"1","source":"s","specversion":"1.0","type":"t","subject":"a"}, 5, {"id":"3","source":"s","#
                + #""specversion":"1.0","type":"t"}]"#
        )
        #expect(
            EventBatch.validate(body, now: now, allowSingle: true, allowArray: true, maxBatchEvents: 10).rejection
                == .invalidEvents(
                    errors: [
                        FieldError(field: "[1]", reason: "must be a JSON object, got number"),
                        FieldError(field: "[2].subject", reason: "is required"),
                    ], invalidCount: 2))
        let single = json(#"{"id":"1","source":"s","specversion":"1.0","type":"t","subject":"a"}"#)
        #expect(
            (try? EventBatch.validate(single, now: now, allowSingle: false, allowArray: true, maxBatchEvents: 10).get())
                == nil)
        #expect(
            (try? EventBatch.validate(
                .array([single]), now: now, allowSingle: true, allowArray: false, maxBatchEvents: 10
            ).get()) == nil)
        #expect(
            (try? EventBatch.validate(.array([]), now: now, allowSingle: true, allowArray: true, maxBatchEvents: 10)
                .get()) == nil)
        #expect(
            EventBatch.validate(
                .array([single, single]), now: now, allowSingle: true, allowArray: true, maxBatchEvents: 1
            ).rejection == .tooManyEvents(count: 2, limit: 1))
        #expect(
            (try? EventBatch.validate(single, now: now, allowSingle: true, allowArray: true, maxBatchEvents: 1).get())?
                .count == 1)
    }

    @Test func jsonRoundTrips() throws {
        let event = CloudEvent(
            id: "e", source: "s", type: "t", subject: "c", time: now, data: .object(["v": .number("2.5")]))
        #expect(try CloudEvent.validate(event.json, now: Timestamp(micros: 0)).get() == event)
    }

    @Test func canonicalJSONIsSortedAndOmitsAbsentAttributes() {
        let full = CloudEvent(
            id: "e\"1", source: "s", type: "t", subject: "c", time: now,
            data: .object(["z": .null, "a": .array([.bool(true)])]),
            dataContentType: "application/json", dataSchema: "https://example.com/s")
        let bare = CloudEvent(id: "e", source: "s", type: "t", subject: "c", time: now, data: .null)
        #expect(
            JSONWriter.string(full.json)
                == #"{"data":{"a":[true],"z":null},"datacontenttype":"application/json","#
                    + #""dataschema":"https://example.com/s","id":"e\"1","source":"s","specversion":"1.0","#
                        + #""subject":"c","time":"2024-05-01T00:00:00Z","type":"t"}"#
        )
        #expect(
            JSONWriter.string(bare.json)
                == #"{"id":"e","source":"s","specversion":"1.0","subject":"c","time":"2024-05-01T00:00:00Z","#
                    + #""type":"t"}"#
        )
    }
}

extension Result where Failure == EventBatch.Rejection {
    var rejection: EventBatch.Rejection? {
        if case .failure(let rejection) = self { return rejection }
        return nil
    }
}
