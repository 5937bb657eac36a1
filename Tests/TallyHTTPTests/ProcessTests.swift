import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TallyConfiguration
import TallyCore
import TallyStore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Tests that run the real `tally` binary as a separate process.
@Suite struct ProcessTests {
    func client(_ base: String) -> LiveNodeClient { LiveNodeClient(baseURL: base) }

    @Test func answersAreTheSameAfterAHardKillAndRestart() async throws {
        let data = NSTemporaryDirectory() + "tally-restart-\(UUID().uuidString)"
        let first = try NodeProcess(arguments: ["serve", "--port", "0", "--data", data])
        let api = client(first.baseURL)
        #expect(try await api.send(.POST, "/api/v1/meters", tokensMeter).status == 201)
        for batch in 0..<20 {
            let events = (0..<50).map {
                eventJSON("b\(batch)-\($0)", subject: "s\($0 % 4)", data: #"{"tokens": 1.1, "model": "m\#($0 % 3)"}"#)
            }
            #expect(
                try await api.send(.POST, "/api/v1/events", "[" + events.joined(separator: ",") + "]").status == 204)
        }
        let query = "/api/v1/meters/tokens_total/query?\(allTime)&groupBy=model&groupBy=subject"
        let before = try await api.send(.GET, query)
        #expect(before.status == 200)
        first.kill()

        let second = try NodeProcess(arguments: ["serve", "--port", "0", "--data", data])
        let after = try await client(second.baseURL).send(.GET, query)
        #expect(after.body == before.body)
        let total = try await client(second.baseURL).send(.GET, "/api/v1/meters/tokens_total/query?\(allTime)")
        #expect(total.json?["data"]?.arrayValue?.first?["value"] == .number("1100"))
        let resend = "[" + eventJSON("b0-0", subject: "s0", data: #"{"tokens": 1.1, "model": "m0"}"#) + "]"
        #expect(try await client(second.baseURL).send(.POST, "/api/v1/events", resend).status == 204)
        #expect(
            try await client(second.baseURL).send(.GET, "/api/v1/meters/tokens_total/query?\(allTime)").body
                == total.body)
        #expect(second.stop() == 0)
    }

    @Test func aBackFillRunsBesideTheAPIAndResumesAfterAHardKill() async throws {
        let folder = NSTemporaryDirectory() + "tally-backfill-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = """
            host: 127.0.0.1
            port: 0
            dataDir: \(folder)/data
            limits:
              backfillChunkEvents: 5
              backfillInlinePositions: 0
            """
        try config.write(toFile: folder + "/tally.yaml", atomically: true, encoding: .utf8)
        let first = try NodeProcess(arguments: ["serve", "--config", folder + "/tally.yaml"])
        for batch in 0..<20 {
            let events = (0..<100).map {
                eventJSON("b\(batch)-\($0)", subject: "s\($0 % 7)", data: #"{"tokens": 3, "model": "m\#($0 % 3)"}"#)
            }
            let reply = try await client(first.baseURL).send(
                .POST, "/api/v1/events", "[" + events.joined(separator: ",") + "]")
            #expect(reply.status == 204)
        }
        #expect(try await client(first.baseURL).send(.POST, "/api/v1/meters", tokensMeter).status == 201)
        first.kill()

        // Wherever the kill stopped the back-fill, the restarted node finishes it: until then every answer is a
        // 503 meter-building, then the exact total.
        let second = try NodeProcess(arguments: ["serve", "--config", folder + "/tally.yaml"])
        let late = "[" + eventJSON("late", subject: "s1", data: #"{"tokens": 4}"#) + "]"
        #expect(try await client(second.baseURL).send(.POST, "/api/v1/events", late).status == 204)
        var answer = try await client(second.baseURL).send(.GET, "/api/v1/meters/tokens_total/query?\(allTime)")
        for _ in 0..<600 where answer.status == 503 {
            #expect(answer.json?["type"] == .string("urn:tally:problem:meter-building"))
            try await Task.sleep(for: .milliseconds(50))
            answer = try await client(second.baseURL).send(.GET, "/api/v1/meters/tokens_total/query?\(allTime)")
        }
        #expect(answer.status == 200)
        #expect(answer.json?["data"]?.arrayValue?.first?["value"] == .number("6004"))
        #expect(second.stop() == 0)
    }

    @Test func apiKeysAreBounded() throws {
        let valid = try NodeConfiguration.parse(yaml: "apiKeys: [k1, k2]\nadminApiKeys: [root]\n")
        #expect(valid.apiKeys == APIKeys(keys: ["k1", "k2"], adminKeys: ["root"]))
        let long = String(repeating: "k", count: APIKeys.maxKeyBytes + 1)
        #expect(
            throws: NodeConfiguration.Invalid(errors: [
                FieldError(field: "apiKeys[1]", reason: "must be a string of 1 to 256 bytes without whitespace"),
                FieldError(field: "apiKeys[2]", reason: "must be a string of 1 to 256 bytes without whitespace"),
                FieldError(field: "apiKeys[3]", reason: "must be a string of 1 to 256 bytes without whitespace"),
                FieldError(field: "adminApiKeys", reason: "must be a list of strings"),
            ])
        ) {
            try NodeConfiguration.parse(yaml: "apiKeys: [ok, '', 'a b', \(long)]\nadminApiKeys: root\n")
        }
        let many = (0...APIKeys.maxKeys).map { "k\($0)" }.joined(separator: ", ")
        #expect(
            throws: NodeConfiguration.Invalid(errors: [
                FieldError(field: "apiKeys", reason: "must list at most 1000 keys")
            ])
        ) {
            try NodeConfiguration.parse(yaml: "apiKeys: [\(many)]\n")
        }
    }

    @Test func backFillLimitsAreBounded() throws {
        let valid = try NodeConfiguration.parse(
            yaml: "limits:\n  backfillChunkEvents: 1000\n  backfillInlinePositions: 0\n")
        #expect(valid.store.backfillChunkEvents == 1000)
        #expect(valid.store.backfillInlinePositions == 0)
        #expect(
            throws: NodeConfiguration.Invalid(errors: [
                FieldError(field: "limits.backfillChunkEvents", reason: "must be an integer from 1 to 1000000"),
                FieldError(
                    field: "limits.backfillInlinePositions", reason: "must be an integer from 0 to 10000000"),
            ])
        ) {
            try NodeConfiguration.parse(
                yaml: "limits:\n  backfillChunkEvents: 0\n  backfillInlinePositions: 10000001\n")
        }
    }

    @Test func configFileDeclaresMetersAndKeys() async throws {
        let folder = NSTemporaryDirectory() + "tally-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = """
            host: 127.0.0.1
            port: 0
            dataDir: \(folder)/data
            apiKeys: [k1]
            dedupWindowDays: 7
            limits:
              maxBodyBytes: 100000
              maxBatchEvents: 500
            meters:
              - slug: api_calls
                aggregation: COUNT
                eventType: request
                groupBy:
                  route: $.route
              - slug: bytes_out
                aggregation: SUM
                eventType: request
                valueProperty: $.bytes
            """
        try config.write(toFile: folder + "/tally.yaml", atomically: true, encoding: .utf8)
        let node = try NodeProcess(arguments: ["serve", "--config", folder + "/tally.yaml"])
        let api = LiveNodeClient(baseURL: node.baseURL, apiKey: "k1")
        let meters = try await api.send(.GET, "/api/v1/meters")
        #expect(meters.json?.arrayValue?.compactMap { $0["slug"]?.stringValue } == ["api_calls", "bytes_out"])
        #expect(try await LiveNodeClient(baseURL: node.baseURL).send(.GET, "/api/v1/meters").status == 401)
        #expect(node.stop() == 0)
    }

    @Test func exampleConfigIsValid() throws {
        let path = URL(fileURLWithPath: NodeProcess.binary).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("cluster-config/node.yaml").path
        let config = try NodeConfiguration.load(path: path)
        #expect(config.meters.map(\.slug) == ["tokens_total", "api_requests"])
        #expect(config.limits.maxConnections == 1024)
        #expect(config.store.dedupWindowSeconds == 32 * 86_400)
    }

    @Test func invalidConfigFileIsRejectedWithReasons() throws {
        let folder = NSTemporaryDirectory() + "tally-badconfig-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "port: eighty\ndedupWindowDay: 3\nlimits:\n  maxBody: 1\nmeters:\n  - slug: Bad\n".write(
            toFile: folder + "/bad.yaml", atomically: true, encoding: .utf8)
        #expect(throws: NodeConfiguration.Invalid.self) { try NodeConfiguration.load(path: folder + "/bad.yaml") }
        do {
            _ = try NodeConfiguration.load(path: folder + "/bad.yaml")
        } catch let invalid as NodeConfiguration.Invalid {
            #expect(
                invalid.errors.map(\.field).sorted() == [
                    "dedupWindowDay", "limits.maxBody", "meters[0].aggregation", "meters[0].eventType",
                    "meters[0].slug", "port",
                ])
        }
    }
}

/// A plain HTTP client for a node started as a process.
struct LiveNodeClient {
    var baseURL: String
    var apiKey: String?

    func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> HTTPReply {
        try await TestHTTP.send(
            method, baseURL + path, body: body, headers: apiKey.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }
}

/// The `ingest` and `query` commands against a node process.
@Suite struct CommandLineTests {
    @Test func ingestSendsAFileInBatchesAndQueryPrintsATable() async throws {
        let folder = NSTemporaryDirectory() + "tally-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let node = try NodeProcess(arguments: ["serve", "--port", "0", "--data", folder + "/data"])
        #expect(
            try await LiveNodeClient(baseURL: node.baseURL).send(.POST, "/api/v1/meters", tokensMeter).status == 201)
        let lines = (0..<25).map {
            eventJSON(
                "cli-\($0)", subject: "s\($0 % 2)", time: "2024-01-01T00:00:00Z",
                data: #"{"tokens": 2, "model": "m\#($0 % 2)"}"#)
        }
        try (lines.joined(separator: "\n") + "\n\n").write(
            toFile: folder + "/events.jsonl", atomically: true, encoding: .utf8)
        let ingest = try NodeProcess.run([
            "ingest", folder + "/events.jsonl", "--url", node.baseURL, "--batch-size", "10",
        ])
        #expect(ingest.status == 0)
        #expect(ingest.output.contains("sent 25 of 25 events"))
        #expect(ingest.output.contains("0 batch(es) rejected"))

        let query = try NodeProcess.run([
            "query", "tokens_total", "--url", node.baseURL, "--from", "2024-01-01T00:00:00Z",
            "--to", "2024-01-02T00:00:00Z", "--group-by", "model",
        ])
        #expect(query.status == 0)
        #expect(
            query.output.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") } == [
                "window start window end subject model value",
                "-------------------- -------------------- ------- ----- -----",
                "2024-01-01T00:00:00Z 2024-01-02T00:00:00Z m0 26",
                "2024-01-01T00:00:00Z 2024-01-02T00:00:00Z m1 24",
            ])

        try "[\(eventJSON("bad", time: "soon"))]".write(toFile: folder + "/bad.json", atomically: true, encoding: .utf8)
        let rejected = try NodeProcess.run(["ingest", folder + "/bad.json", "--url", node.baseURL])
        #expect(rejected.status == 1)
        #expect(rejected.output.contains("sent 0 of 1 events"))
        #expect(node.stop() == 0)
    }
}
