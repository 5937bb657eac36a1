import TallyCore
import Testing

@testable import TallyHTTP

@Suite struct IngestRequestTests {
    @Test func forwardedTextsKeepTheSourceAndCarryAssignedTimes() throws {
        let texts = [
            #"{"id":"1","source":"s","specversion":"1.0","type":"t","subject":"a","time":"2024-01-01T00:00:00Z","#
                + #""traceparent":"x"}"#,
            #"{"id":"2","source":"s","specversion":"1.0","type":"t","subject":"b"}"#,
        ]
        let now = Timestamp(rfc3339: "2024-05-01T12:00:00Z")!
        let body = try JSONParser.parse("[" + texts.joined(separator: ",") + "]")
        let events = try EventBatch.validate(
            body, texts: texts, now: now, allowSingle: false, allowArray: true, maxBatchEvents: 10
        ).get()
        #expect(events.map(\.timeAssigned) == [false, true])
        #expect(
            IngestRequest.joinedTexts(events) == texts[0] + ","
                + #"{"id":"2","source":"s","specversion":"1.0","subject":"b","time":"2024-05-01T12:00:00Z","type":"t"}"#
        )
    }
}
