import TallyCore
import TallyStore
import Testing

@testable import TallyHTTP

@Suite struct MeterAPITests {
    @Test func createGetUpdateDelete() async throws {
        try await LiveNode.run { node in
            let created = try await node.post("/api/v1/meters", tokensMeter)
            #expect(created.status == 201)
            let id = try #require(created.json?["id"]?.stringValue)
            #expect(ULID.isValid(id))
            #expect(created.json?["name"] == .string("tokens_total"))
            #expect(try await node.get("/api/v1/meters/\(id)").json?["slug"] == .string("tokens_total"))
            #expect(try await node.get("/api/v1/meters/tokens_total").json?["id"] == .string(id))

            let updated = try await node.request(
                .PUT, "/api/v1/meters/tokens_total",
                body: #"{"name":"Tokens","groupBy":{"model":"$.model","tier":"$.tier"}}"#)
            #expect(updated.status == 200)
            #expect(updated.json?["name"] == .string("Tokens"))
            #expect(updated.json?["groupBy"]?["tier"] == .string("$.tier"))

            let immutable = try await node.request(.PUT, "/api/v1/meters/tokens_total", body: #"{"aggregation":"MAX"}"#)
            #expect(immutable.status == 400)
            #expect(immutable.json?["errors"]?.arrayValue?.first?["field"] == .string("aggregation"))

            #expect(try await node.request(.DELETE, "/api/v1/meters/tokens_total").status == 204)
            #expect(try await node.get("/api/v1/meters/tokens_total").status == 404)
            #expect(try await node.request(.DELETE, "/api/v1/meters/tokens_total").status == 404)
            #expect(try await node.get("/api/v1/meters").json == .array([]))
            let deleted = try await node.get("/api/v1/meters?includeDeleted=true").json?.arrayValue
            #expect(deleted?.count == 1)
            #expect(deleted?.first?["deletedAt"]?.stringValue != nil)
        }
    }

    @Test func aMeterBackFillingAnswersMeterBuildingUntilDone() async throws {
        var store = StoreConfiguration()
        store.backfillInlinePositions = 0
        try await LiveNode.run(store: store) { node in
            let early = (0..<30).map { eventJSON("e\($0)", data: #"{"tokens": 2, "model": "m"}"#) }
            #expect(try await node.post("/api/v1/events", "[" + early.joined(separator: ",") + "]").status == 204)
            try await node.createMeter(tokensMeter)
            #expect(
                try await node.post("/api/v1/events", "[" + eventJSON("late", data: #"{"tokens": 5}"#) + "]").status
                    == 204)

            let building = try await node.get("/api/v1/meters/tokens_total/query?\(allTime)")
            #expect(building.status == 503)
            #expect(building.headers["Retry-After"] == ["1"])
            #expect(building.headers["Content-Type"] == ["application/problem+json"])
            #expect(
                building.json
                    == .object([
                        "type": .string("urn:tally:problem:meter-building"), "title": .string("Service Unavailable"),
                        "status": .number("503"),
                        "detail": .string(
                            "meter tokens_total is being back-filled from stored events (0% done); retry shortly, "
                                + "or pass allowPartial=true for the events counted so far"),
                        "instance": .string("/api/v1/meters/tokens_total/query"), "meter": .string("tokens_total"),
                        "progress": .number("0.0"),
                    ]))
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)&allowPartial=true") == ["5"])

            try await node.store.finishBuilds()
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == ["65"])
        }
    }

    @Test func invalidAndDuplicateMeters() async throws {
        try await LiveNode.run { node in
            let invalid = try await node.post(
                "/api/v1/meters", #"{"slug":"Bad Slug","aggregation":"SUM","eventType":"p"}"#)
            #expect(invalid.status == 400)
            #expect(
                invalid.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue }.sorted() == [
                    "slug", "valueProperty",
                ])
            try await node.createMeter(tokensMeter)
            let duplicate = try await node.post("/api/v1/meters", tokensMeter)
            #expect(duplicate.status == 409)
            #expect(duplicate.json?["errors"]?.arrayValue?.first?["field"] == .string("slug"))
            #expect(try await node.post("/api/v1/meters", "[1]").status == 400)
            #expect(
                try await node.get("/api/v1/meters/missing").json?["type"]
                    == .string("urn:tally:problem:meter-not-found"))
        }
    }

    @Test func listingPagesAndOrders() async throws {
        try await LiveNode.run { node in
            for slug in ["b_meter", "a_meter", "c_meter"] {
                try await node.createMeter(#"{"slug":"\#(slug)","aggregation":"COUNT","eventType":"p"}"#)
            }
            func slugs(_ query: String) async throws -> [String] {
                try await node.get("/api/v1/meters?\(query)").json?.arrayValue?.compactMap { $0["slug"]?.stringValue }
                    ?? []
            }
            #expect(try await slugs("") == ["a_meter", "b_meter", "c_meter"])
            #expect(try await slugs("order=DESC") == ["c_meter", "b_meter", "a_meter"])
            #expect(try await slugs("page=2&pageSize=2") == ["c_meter"])
            #expect(try await slugs("page=3&pageSize=2") == [])
            let bad = try await node.get("/api/v1/meters?pageSize=0&orderBy=size&order=UP")
            #expect(bad.status == 400)
            #expect(
                bad.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue }.sorted() == [
                    "order", "orderBy", "pageSize",
                ])
        }
    }

    @Test func meterCreatedLaterCountsEarlierEvents() async throws {
        try await LiveNode.run { node in
            _ = try await node.post(
                "/api/v1/events",
                "[\(eventJSON("a", data: #"{"tokens": 4}"#)),\(eventJSON("b", data: #"{"tokens": 6}"#))]")
            try await node.createMeter(tokensMeter)
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == ["10"])
        }
    }
}
