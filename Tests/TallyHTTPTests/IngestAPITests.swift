import TallyConfiguration
import TallyCore
import TallyStore
import Testing

@testable import TallyHTTP

@Suite struct IngestAPITests {
    @Test func acceptsTheThreeContentTypes() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            #expect(
                try await node.post("/api/v1/events", eventJSON("a"), contentType: "application/cloudevents+json")
                    .status == 204)
            #expect(
                try await node.post(
                    "/api/v1/events", "[\(eventJSON("b")),\(eventJSON("c"))]",
                    contentType: "application/cloudevents-batch+json"
                ).status == 204)
            #expect(
                try await node.post("/api/v1/events", eventJSON("d"), contentType: "application/json; charset=utf-8")
                    .status == 204)
            #expect(
                try await node.post("/api/v1/events", "[\(eventJSON("e"))]", contentType: "application/json").status
                    == 204)
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == ["5"])
        }
    }

    @Test func duplicatesAreAcceptedAndCountedOnce() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            let batch = "[\(eventJSON("a", data: #"{"tokens": 2}"#)),\(eventJSON("a", data: #"{"tokens": 2}"#))]"
            #expect(try await node.post("/api/v1/events", batch).status == 204)
            #expect(try await node.post("/api/v1/events", batch).status == 204)
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == ["2"])
        }
    }

    @Test func anInvalidEventRejectsTheWholeBatchAndListsEveryIndex() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            let body = "[\(eventJSON("ok")), {\"id\":\"x\"}, \(eventJSON("bad-time", time: "yesterday"))]"
            let reply = try await node.post("/api/v1/events", body)
            #expect(reply.status == 400)
            #expect(reply.headers["Content-Type"] == ["application/problem+json"])
            let problem = try #require(reply.json)
            #expect(problem["status"] == .number("400"))
            #expect(problem["title"] == .string("Bad Request"))
            #expect(problem["instance"] == .string("/api/v1/events"))
            #expect(problem["detail"] == .string("2 event(s) of the batch are invalid; nothing was stored"))
            #expect(
                problem["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } == [
                    "[1].source", "[1].specversion", "[1].type", "[1].subject", "[2].time",
                ])
            #expect(node.store.eventCount == 0)
        }
    }

    @Test func badRequestsGetProblemsAndChangeNothing() async throws {
        var limits = APILimits()
        limits.maxBodyBytes = 2048
        limits.maxBatchEvents = 3
        try await LiveNode.run(limits: limits) { node in
            try await node.createMeter(tokensMeter)
            let cases: [(body: String, contentType: String?, status: UInt, type: String)] = [
                (eventJSON("a"), "text/plain", 415, "urn:tally:problem:unsupported-media-type"),
                (eventJSON("a"), nil, 415, "urn:tally:problem:unsupported-media-type"),
                ("{\"id\": ", "application/json", 400, "urn:tally:problem:malformed-json"),
                ("", "application/json", 400, "urn:tally:problem:malformed-json"),
                ("[\(eventJSON("a"))]", "application/cloudevents+json", 400, "urn:tally:problem:validation"),
                (eventJSON("a"), "application/cloudevents-batch+json", 400, "urn:tally:problem:validation"),
                ("[]", "application/json", 400, "urn:tally:problem:validation"),
                (
                    "[" + (0..<4).map { eventJSON("n\($0)") }.joined(separator: ",") + "]", "application/json", 413,
                    "urn:tally:problem:batch-too-large"
                ),
                (
                    eventJSON("big", data: "{\"pad\": \"" + String(repeating: "x", count: 4096) + "\"}"),
                    "application/json", 413, "urn:tally:problem:body-too-large"
                ),
            ]
            for item in cases {
                let reply = try await node.post("/api/v1/events", item.body, contentType: item.contentType)
                #expect(reply.status == item.status, "\(item.type): \(reply.body)")
                #expect(reply.json?["type"]?.stringValue == item.type)
            }
            #expect(node.store.eventCount == 0)
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == [])
        }
    }

    @Test func listShowsEventsWithValidationErrors() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            _ = try await node.post(
                "/api/v1/events", "[\(eventJSON("good")),\(eventJSON("bad", data: #"{"tokens": "many"}"#))]")
            let reply = try await node.get("/api/v1/events?from=2023-01-01T00:00:00Z&id=bad")
            #expect(reply.status == 200)
            let items = try #require(reply.json?.arrayValue)
            #expect(items.count == 1)
            #expect(items[0]["event"]?["id"] == .string("bad"))
            #expect(
                items[0]["validationError"]
                    == .string("meter tokens_total: valueProperty $.tokens is not numeric: \"many\""))
            #expect(items[0]["ingestedAt"]?.stringValue != nil)
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == ["1"])
            let invalid = try await node.get("/api/v1/events?limit=0&from=soon")
            #expect(invalid.status == 400)
            #expect(
                invalid.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue }.sorted() == [
                    "from", "limit",
                ])
        }
    }

    @Test func listingShowsEventsAsReceivedWithTheirResolvedTime() async throws {
        try await LiveNode.run { node in
            let event =
                #"{"id":"x1","source":"app","specversion":"1.0","type":"prompt","subject":"c9","#
                    + #""traceparent":"00-abc-01","data":{"tokens":3}}"#
            #expect(
                try await node.post("/api/v1/events", event, contentType: "application/cloudevents+json").status == 204)
            let listed = try #require(try await node.get("/api/v1/events?subject=c9").json?.arrayValue?.first)
            #expect(listed["event"]?["traceparent"] == .string("00-abc-01"))
            #expect(listed["event"]?["data"] == .object(["tokens": .number("3")]))
            let time = try #require(listed["event"]?["time"]?.stringValue.flatMap { Timestamp(rfc3339: $0) })
            #expect(abs(time.micros - Timestamp.now.micros) < 60_000_000)
        }
    }

    @Test func concurrentClientsGiveExactTotals() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            let clients = 6
            let batches = 10
            try await withThrowingTaskGroup(of: UInt.self) { group in
                for client in 0..<clients {
                    for batch in 0..<batches {
                        group.addTask {
                            let events = (0..<50).map {
                                eventJSON(
                                    "c\(client)-b\(batch)-\($0)", subject: "s\($0 % 9)", data: #"{"tokens": 0.01}"#)
                            }
                            return try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]")
                                .status
                        }
                    }
                }
                for try await status in group { #expect(status == 204) }
            }
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == ["30"])
            #expect(node.store.eventCount == 3000)
        }
    }
}
