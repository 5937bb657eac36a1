import Foundation
import GRDB
import TallyConfiguration
import TallyCore
import TallyStore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Requests that once crashed, hung or confused a node: each gets a precise problem and changes nothing.
@Suite struct HardeningAPITests {
    static let composed = "\u{e9}"
    static let decomposed = "e\u{301}"

    @Test func pagingParametersAreBounded() async throws {
        try await LiveNode.run { node in
            let reply = try await node.get("/api/v1/meters?page=2305843009213693953&pageSize=5")
            #expect(reply.status == 400)
            #expect(
                reply.json?["errors"]
                    == .array([
                        .object(["field": .string("page"), "reason": .string("must be an integer from 1 to 1000000")])
                    ]))
            #expect(try await node.get("/api/v1/meters?page=1000000&pageSize=1000").json == .array([]))
        }
    }

    @Test(arguments: [";", "", " ; charset=utf-8"])
    func aContentTypeWithoutAMediaTypeIs415(contentType: String) async throws {
        try await LiveNode.run { node in
            let reply = try await node.post(
                "/api/v1/events", eventJSON("a"), contentType: nil,
                headers: [("Content-Type", contentType)])
            #expect(reply.status == 415)
            #expect(reply.json?["type"] == .string("urn:tally:problem:unsupported-media-type"))
            #expect(
                reply.json?["errors"]
                    == .array([
                        .object(["field": .string("Content-Type"), "reason": .string("unsupported media type")])
                    ]))
            #expect(node.store.eventCount == 0)
        }
    }

    @Test func aWrongMethodOnAKnownPathIs405WithAllow() async throws {
        try await LiveNode.run { node in
            let reply = try await node.request(.DELETE, "/api/v1/events")
            #expect(reply.status == 405)
            #expect(reply.headers["Allow"] == ["GET, POST"])
            #expect(reply.json?["type"] == .string("urn:tally:problem:method-not-allowed"))
            #expect(try await node.request(.PATCH, "/api/v1/meters/anything").headers["Allow"] == ["DELETE, GET, PUT"])
            #expect(try await node.get("/api/v1/nothing").status == 404)
        }
    }

    @Test func bearerSchemeIsCaseInsensitiveAndHealthPathsStayOpen() async throws {
        try await LiveNode.run(apiKeys: ["k1"]) { node throws in
            #expect(try await node.get("/api/v1/meters", headers: [("Authorization", "bearer k1")]).status == 200)
            #expect(try await node.get("/api/v1/meters", headers: [("Authorization", "BEARER  k1")]).status == 200)
            #expect(try await node.get("/api/v1/meters", headers: [("Authorization", "Basic k1")]).status == 401)
            #expect(try await node.get("/healthz/").status == 200)
            #expect(try await node.get("//healthz").status == 200)
            #expect(try await node.get("/readyz/").status == 200)
        }
    }

    @Test func aMalformedChunkedBodyIs400() async throws {
        try await LiveNode.run { node in
            let port = try #require(Int(node.baseURL.split(separator: ":").last ?? ""))
            let answer = try await RawConnection.exchange(
                port: port,
                "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n"
                    + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
            #expect(node.store.eventCount == 0)
            #expect(try await node.get("/healthz").status == 200)
        }
    }

    @Test func valuesBeyondTheEventBoundAreNotCountedAndSaySo() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            let batch =
                "[\(eventJSON("a", data: #"{"tokens": 1e29}"#)),\(eventJSON("b", data: #"{"tokens": 1e29}"#)),"
                + "\(eventJSON("c", data: #"{"tokens": 1000000000000000000}"#))]"
            #expect(try await node.post("/api/v1/events", batch).status == 204)
            #expect(try await node.values("/api/v1/meters/tokens_total/query?\(allTime)") == ["1000000000000000000"])
            let listed = try await node.get("/api/v1/events?from=2020-01-01T00:00:00Z")
            let errors = listed.json?.arrayValue?.compactMap { $0["validationError"]?.stringValue } ?? []
            #expect(
                errors
                    == Array(
                        repeating: "meter tokens_total: valueProperty $.tokens is out of range: the magnitude of "
                            + "one event's value is at most 1000000000000000000", count: 2))
        }
    }

    @Test func aWindowWhoseSumOverflowsIs422NamingMeterAndWindow() async throws {
        let folder = NSTemporaryDirectory() + "tally-overflow-\(UUID().uuidString)"
        try await LiveNode.run(directory: folder) { node throws in
            try await node.createMeter(tokensMeter)
            let meterID = try #require(try await node.get("/api/v1/meters/tokens_total").json?["id"]?.stringValue)
            // What the store holds once a minute's count or sum overflowed: the empty `sum` blob, at every resolution.
            let database = try DatabaseQueue(path: ShardStore.aggregatesPath(for: folder + "/shard.sqlite"))
            try database.write { db in
                let minute: Int64 = 1_704_067_200_000_000
                try db.execute(
                    sql: """
                        INSERT INTO total_agg(meter, resolution, bucket_us, group_key, count, sum)
                        VALUES ((SELECT number FROM meters WHERE id = ?), 60000000, ?, '{}', 2, X'')
                        """, arguments: [meterID, minute])
                for resolution: Int64 in [3_600_000_000, 86_400_000_000] {
                    try db.execute(
                        sql: """
                            INSERT INTO rollup_agg(meter, resolution, bucket_us, subject, group_key, count, sum)
                            VALUES ((SELECT number FROM meters WHERE id = ?), ?, ?, 'c1', '{}', 2, X'')
                            """, arguments: [meterID, resolution, minute])
                    try db.execute(
                        sql: """
                            INSERT INTO total_agg(meter, resolution, bucket_us, group_key, count, sum)
                            VALUES ((SELECT number FROM meters WHERE id = ?), ?, ?, '{}', 2, X'')
                            """, arguments: [meterID, resolution, minute])
                }
            }
            try database.close()
            let reply = try await node.get("/api/v1/meters/tokens_total/query?\(allTime)&windowSize=DAY")
            #expect(reply.status == 422)
            #expect(reply.json?["type"] == .string("urn:tally:problem:value-overflow"))
            #expect(
                reply.json?["detail"]
                    == .string(
                        "meter tokens_total: the value of the window 2024-01-01T00:00:00Z to "
                            + "2024-01-02T00:00:00Z does not fit in an exact decimal (about ±1.7e29); "
                            + "query shorter windows or group further"
                    ))
        }
    }

    @Test func canonicallyEquivalentSubjectsAndValuesStayApart() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(#"{"slug":"calls","aggregation":"COUNT","eventType":"prompt"}"#)
            try await node.createMeter(
                #"{"slug":"users","aggregation":"UNIQUE_COUNT","eventType":"prompt","valueProperty":"$.user"}"#)
            var events: [String] = []
            for (index, subject) in [Self.composed, Self.composed, Self.composed, Self.decomposed, Self.decomposed]
                .enumerated()
            {
                let user = index % 2 == 0 ? Self.composed : Self.decomposed
                events.append(
                    eventJSON(
                        "e\(index % 3)", subject: subject, time: "2024-01-01T00:00:\(10 + index)Z",
                        data: #"{"user": "\#(user)"}"#))
            }
            #expect(try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]").status == 204)
            for range in [allTime, "from=2024-01-01T00:00:05Z&to=2024-01-01T00:00:50Z"] {
                let rows =
                    try await node.get("/api/v1/meters/calls/query?\(range)&groupBy=subject").json?["data"]?.arrayValue
                    ?? []
                #expect(
                    rows.map { $0["subject"]?.stringValue.map { Array($0.utf8) } }
                        == [
                            Array(Self.decomposed.utf8),
                            Array(Self.composed.utf8),
                        ].map { $0 })
                #expect(rows.map { $0["value"] } == [.number("2"), .number("3")])
                #expect(try await node.values("/api/v1/meters/users/query?\(range)") == ["2"])
            }
            let subjects =
                try await node.get("/api/v1/subjects").json?.arrayValue?.compactMap { $0["key"]?.stringValue } ?? []
            #expect(subjects.map { Array($0.utf8) } == [Array(Self.decomposed.utf8), Array(Self.composed.utf8)])
            let csv = try await node.get(
                "/api/v1/meters/calls/query?\(allTime)&groupBy=subject", headers: [("Accept", "text/csv")])
            #expect(csv.body.split(separator: "\r\n").count == 3)
        }
    }

    @Test func listedEventsKeepTheTimeAsReceived() async throws {
        try await LiveNode.run { node in
            #expect(
                try await node.post("/api/v1/events", eventJSON("a", time: "2024-06-30T23:59:60+02:00")).status == 204)
            let listed = try await node.get("/api/v1/events?from=2024-01-01T00:00:00Z").json?.arrayValue
            #expect(listed?.first?["event"]?["time"] == .string("2024-06-30T23:59:60+02:00"))
        }
    }

    @Test func timesOutsideYears1To9999AreRefusedEverywhere() async throws {
        try await LiveNode.run { node in
            let meter = try await node.post(
                "/api/v1/meters",
                #"{"slug":"m","aggregation":"COUNT","eventType":"t","eventFrom":"0001-01-01T00:00:00+00:01"}"#)
            #expect(meter.status == 400)
            #expect(meter.json?["errors"]?.arrayValue?.first?["field"] == .string("eventFrom"))
            try await node.createMeter(tokensMeter)
            let query = try await node.get("/api/v1/meters/tokens_total/query?to=9999-12-31T23:30:00-01:00")
            #expect(query.status == 400)
            #expect(query.json?["errors"]?.arrayValue?.first?["field"] == .string("to"))
            #expect(try await node.post("/api/v1/events", eventJSON("a", time: "0000-06-01T00:00:00Z")).status == 400)
            #expect(node.store.eventCount == 0)
        }
    }

    @Test func idleConnectionsAreClosedAndHealthChecksStillAnswer() async throws {
        var limits = APILimits()
        limits.idleTimeoutSeconds = 1
        try await LiveNode.run(limits: limits) { node throws in
            let port = try #require(Int(node.baseURL.split(separator: ":").last ?? ""))
            var idle: [RawConnection] = []
            for _ in 0..<2000 { idle.append(try await RawConnection.open(port: port)) }
            #expect(try await node.get("/healthz").status == 200)
            #expect(await idle[0].receive(timeoutSeconds: 5) == "", "an idle connection is closed without an answer")
        }
    }
}
