import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TallyConfiguration
import TallyCore
import TallyStore
import TallyTestSupport

@testable import TallyHTTP

/// A live Tally node on a random loopback port over a real SQLite file, driven over real HTTP.
struct LiveNode {
    let baseURL: String
    let store: ShardStore

    /// Webhook attempt timeouts for tests: under the whole suite's load an in-process answer can take seconds, and a
    /// timed-out attempt would change the attempts a test expects.
    static let generousTimeouts = WebhookDelivery.Timeouts(webhookTimeout: .seconds(120), connectTimeout: .seconds(60))

    /// Starts a node, runs `body` against it, then shuts it down gracefully. It runs no background meter builder,
    /// and the notification loop only with `notifications` (polling every 50 ms):
    /// a back-fill larger than `backfillInlinePositions` waits for the test (`ShardStore.finishBuilds`).
    static func run(
        limits: APILimits = APILimits(), apiKeys: APIKeys = [], directory: String? = nil,
        store configuration: StoreConfiguration = StoreConfiguration(), notifications: Bool = false,
        webhookTimeouts: WebhookDelivery.Timeouts = LiveNode.generousTimeouts, _ body: (LiveNode) async throws -> Void
    ) async throws {
        let folder = directory ?? NSTemporaryDirectory() + "tally-http-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try ShardStore(path: folder + "/shard.sqlite", configuration: configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = TallyServer.application(
            store: store, host: "127.0.0.1", port: 0, limits: limits, apiKeys: apiKeys, logger: logger,
            onServerRunning: { continuation.yield($0) })
        var services: [any Service] = [app]
        if notifications {
            services.append(
                NotificationService(
                    store: store, pollInterval: .milliseconds(50), timeouts: webhookTimeouts, logger: logger))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else {
                throw NodeProcess.StartFailure(description: "the node stopped before it listened (port in use?)")
            }
            defer { Task { await group.triggerGracefulShutdown() } }
            try await body(LiveNode(baseURL: "http://127.0.0.1:\(port)", store: store))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    func request(
        _ method: HTTPMethod, _ path: String, body: String? = nil, contentType: String? = "application/json",
        headers extra: [(String, String)] = []
    ) async throws -> HTTPReply {
        try await TestHTTP.send(method, baseURL + path, body: body, contentType: contentType, headers: extra)
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await request(.GET, path, headers: headers)
    }

    func post(
        _ path: String, _ body: String, contentType: String? = "application/json", headers: [(String, String)] = []
    ) async throws -> HTTPReply {
        try await request(.POST, path, body: body, contentType: contentType, headers: headers)
    }

    func createMeter(_ json: String) async throws {
        let reply = try await post("/api/v1/meters", json)
        precondition(reply.status == 201, "meter creation failed: \(reply.body)")
    }

    /// The `value`s of a query's rows.
    func values(_ path: String) async throws -> [String] {
        let reply = try await get(path)
        return reply.json?["data"]?.arrayValue?.compactMap { $0["value"].map(JSONWriter.string) } ?? [
            "status \(reply.status): \(reply.body)"
        ]
    }
}

/// A CloudEvent JSON object for tests.
func eventJSON(
    _ id: String, subject: String = "c1", type: String = "prompt", time: String = "2024-01-01T00:00:00Z",
    data: String = #"{"tokens": 1}"#
) -> String {
    #"{"id":"\#(id)","source":"test","specversion":"1.0","type":"\#(type)","subject":"\#(subject)","#
        + #""time":"\#(time)","data":\#(data)}"#
}

let tokensMeter =
    #"{"slug":"tokens_total","aggregation":"SUM","eventType":"prompt","valueProperty":"$.tokens","#
    + #""groupBy":{"model":"$.model"}}"#
let allTime = "from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z"
