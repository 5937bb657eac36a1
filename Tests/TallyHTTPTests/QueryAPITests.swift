import TallyCore
import TallyTestSupport
import Testing

@testable import TallyHTTP

@Suite struct QueryAPITests {
    func seed(_ node: LiveNode) async throws {
        try await node.createMeter(tokensMeter)
        let events = [
            eventJSON("1", subject: "acme", time: "2024-01-01T00:00:30Z", data: #"{"tokens": 1.5, "model": "gpt-4"}"#),
            eventJSON("2", subject: "acme", time: "2024-01-01T10:00:00Z", data: #"{"tokens": "2", "model": "gpt-4o"}"#),
            eventJSON("3", subject: "globex", time: "2024-01-02T03:00:00Z", data: #"{"tokens": 4, "model": "gpt-4"}"#),
            eventJSON("4", subject: "globex", time: "2024-01-02T23:59:59Z", data: #"{"tokens": 8}"#),
        ]
        #expect(try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]").status == 204)
    }

    @Test func windowsGroupsAndSubjects() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let reply = try await node.get(
                "/api/v1/meters/tokens_total/query?from=2024-01-01T00:00:00Z&to=2024-01-03T00:00:00Z&windowSize=DAY"
                    + "&groupBy=subject&groupBy=model"
            )
            #expect(reply.status == 200)
            #expect(
                reply.body == #"{"data":["#
                    + #"{"groupBy":{"model":"gpt-4"},"subject":"acme","value":1.5,"#
                    + #""windowEnd":"2024-01-02T00:00:00Z","windowStart":"2024-01-01T00:00:00Z"},"#
                    + #"{"groupBy":{"model":"gpt-4o"},"subject":"acme","value":2,"#
                    + #""windowEnd":"2024-01-02T00:00:00Z","windowStart":"2024-01-01T00:00:00Z"},"#
                    + #"{"groupBy":{"model":null},"subject":"globex","value":8,"windowEnd":"2024-01-03T00:00:00Z","#
                    + #""windowStart":"2024-01-02T00:00:00Z"},"#
                    + #"{"groupBy":{"model":"gpt-4"},"subject":"globex","value":4,"#
                    + #""windowEnd":"2024-01-03T00:00:00Z","windowStart":"2024-01-02T00:00:00Z"}"#
                    + #"],"from":"2024-01-01T00:00:00Z","to":"2024-01-03T00:00:00Z","windowSize":"DAY"}"#)
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)&subject=globex") == ["12"])
            #expect(
                try await node.values("/api/v1/meters/tokens_total/query?\(allTime)&filterGroupBy%5Bmodel%5D=gpt-4")
                    == ["5.5"])
            #expect(
                try await node.values(
                    "/api/v1/meters/tokens_total/query?from=2024-01-01T00:00:45Z&to=2024-01-02T23:59:59Z") == ["6"])
            #expect(
                try await node.values(
                    "/api/v1/meters/tokens_total/query?from=2024-01-01T05:00:00+05:00&to=2024-01-01T00:01:00Z") == [
                        "1.5"
                    ])
            let tokyo = try await node.get(
                "/api/v1/meters/tokens_total/query?\(allTime)&windowSize=DAY&windowTimeZone=Asia/Tokyo")
            #expect(
                tokyo.json?["data"]?.arrayValue?.compactMap { $0["windowStart"]?.stringValue } == [
                    "2023-12-31T15:00:00Z", "2024-01-01T15:00:00Z", "2024-01-02T15:00:00Z",
                ])
        }
    }

    @Test func postQueryMatchesGet() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let reply = try await node.post(
                "/api/v1/meters/tokens_total/query",
                #"{"from":"2024-01-01T00:00:00Z","to":"2024-01-03T00:00:00Z","subject":["acme"],"#
                    + #""groupBy":["model"],"filterGroupBy":{"model":["gpt-4o"]}}"#
            )
            #expect(reply.status == 200)
            #expect(
                reply.json?["data"]?.arrayValue?.map { JSONWriter.string($0) } == [
                    #"{"groupBy":{"model":"gpt-4o"},"subject":"acme","value":2,"windowEnd":"2024-01-03T00:00:00Z","#
                        + #""windowStart":"2024-01-01T00:00:00Z"}"#
                ])
        }
    }

    @Test func csvOutput() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let reply = try await node.get(
                "/api/v1/meters/tokens_total/query?from=2024-01-01T00:00:00Z&to=2024-01-03T00:00:00Z&windowSize=DAY"
                    + "&groupBy=model",
                headers: [("Accept", "text/csv")])
            #expect(reply.status == 200)
            #expect(reply.headers["Content-Type"] == ["text/csv; charset=utf-8"])
            #expect(
                reply.body == "window_start,window_end,subject,model,value\r\n"
                    + "2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,,gpt-4,1.5\r\n"
                    + "2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,,gpt-4o,2\r\n"
                    + "2024-01-02T00:00:00Z,2024-01-03T00:00:00Z,,,8\r\n"
                    + "2024-01-02T00:00:00Z,2024-01-03T00:00:00Z,,gpt-4,4\r\n")
        }
    }

    @Test func invalidQueriesAreProblems() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let cases: [(String, UInt, [String])] = [
                ("from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z", 400, ["from"]),
                ("windowSize=WEEK", 400, ["windowSize"]),
                ("windowTimeZone=Atlantis/Capital", 400, ["windowTimeZone"]),
                ("groupBy=region", 400, ["groupBy"]),
                ("from=tomorrow", 400, ["from"]),
                ("filterCustomerId=c1", 400, ["filterCustomerId"]),
                (
                    "advancedMeterGroupByFilters=%7B%22model%22%3A%7B%22%24like%22%3A%22x%22%7D%7D", 400,
                    ["advancedMeterGroupByFilters.model"]
                ),
            ]
            for (query, status, fields) in cases {
                let reply = try await node.get("/api/v1/meters/tokens_total/query?\(query)")
                #expect(reply.status == status, "\(query)")
                #expect(
                    reply.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } == fields, "\(query)")
            }
            #expect(try await node.get("/api/v1/meters/nope/query").status == 404)
            #expect(try await node.post("/api/v1/meters/tokens_total/query", #"{"subject":"acme"}"#).status == 400)
            #expect(
                try await node.post("/api/v1/meters/tokens_total/query", #"{"filterCustomerId":["c1"]}"#).status == 400)
            #expect(
                try await node.post("/api/v1/meters/tokens_total/query", #"{"filterCustomerId":[],"clientId":"x"}"#)
                    .status == 200)
        }
    }

    @Test func subjectEndpoints() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            _ = try await node.post("/api/v1/events", eventJSON("x", subject: "initech", type: "other"))
            #expect(
                try await node.get("/api/v1/meters/tokens_total/subjects").json
                    == .array([.string("acme"), .string("globex")]))
            #expect(
                try await node.get("/api/v1/meters/tokens_total/subjects?from=2024-01-02T00:00:00Z").json
                    == .array([.string("globex")]))
            let subjects = try await node.get("/api/v1/subjects").json?.arrayValue
            #expect(subjects?.compactMap { $0["key"]?.stringValue } == ["acme", "globex", "initech"])
            #expect(subjects?.allSatisfy { $0["id"]?.stringValue.map(ULID.isValid) == true } == true)
        }
    }

    @Test func subjectsAreListedInPages() async throws {
        try await LiveNode.run { node in
            let keys = (0..<2345).map { "customer-\($0)" }
            let events = keys.map { eventJSON("e-\($0)", subject: $0) }
            #expect(try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]").status == 204)
            let expected = keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let keysOf = { (reply: HTTPReply) in reply.json?.arrayValue?.compactMap { $0["key"]?.stringValue } ?? [] }

            // The whole list, written 1,000 subjects at a time.
            let whole = try await node.get("/api/v1/subjects")
            #expect(whole.status == 200)
            #expect(keysOf(whole) == expected)

            // Pages of 1,000 linked by `after`.
            var pages: [[String]] = []
            var path: String? = "/api/v1/subjects?limit=1000"
            while let next = path {
                let page = try await node.get(next)
                #expect(page.status == 200)
                pages.append(keysOf(page))
                path = page.headers["Link"].first.map { String($0.dropFirst().prefix { $0 != ">" }) }
            }
            #expect(pages.map(\.count) == [1000, 1000, 345])
            #expect(pages.flatMap { $0 } == expected)
            let after = try await node.get("/api/v1/subjects?limit=2&after=customer-1999")
            #expect(keysOf(after) == ["customer-2", "customer-20"])
            #expect(
                after.headers["Link"] == ["</api/v1/subjects?limit=2&after=customer-20>; rel=\"next\""])
            #expect(keysOf(try await node.get("/api/v1/subjects?after=customer-999")) == [])

            let invalid = try await node.get("/api/v1/subjects?limit=0&after=" + String(repeating: "a", count: 1025))
            #expect(invalid.status == 400)
            #expect(
                invalid.json?["errors"]
                    == .array([
                        .object(["field": .string("limit"), "reason": .string("must be an integer from 1 to 1000")]),
                        .object(["field": .string("after"), "reason": .string("must be at most 1024 bytes")]),
                    ]))
        }
    }
}
