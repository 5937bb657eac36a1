import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TallyCore

/// `tally-loadgen`: drives a Tally node with batches of unique CloudEvents over keep-alive connections
/// for a fixed time and prints throughput and latency percentiles.
@main
struct LoadGenerator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally-loadgen", abstract: "Load generator for Tally ingestion.")

    @Option(help: "Base URL of the node or coordinator.")
    var url = "http://127.0.0.1:8080"
    @Option(help: "Seconds to send for.")
    var durationSeconds = 20
    @Option(help: "Concurrent keep-alive connections, each with one request in flight.")
    var connections = 8
    @Option(help: "Events per request.")
    var batchEvents = 100
    @Option(help: "Distinct subjects (customers) the events are spread over.")
    var subjects = 1000
    @Option(help: "API key, if the node requires one.")
    var apiKey: String?
    @Flag(help: "Random UUIDv4 event ids (as real clients send) instead of ids that grow with each event.")
    var randomIds = false
    @Flag(help: "Each event's customer drawn at random instead of in turn.")
    var randomSubjects = false
    @Option(help: "Milliseconds to wait before re-sending a batch refused with 503.")
    var retryAfterRefusalMs = 50
    @Option(help: "Stop after about this many events in all (split over the connections), even before the time is up.")
    var maxEvents: Int?
    @Option(help: "Event times spread at random over this many days before now (0: every event stamped now).")
    var spreadDays = 0
    @Option(help: "Stop (and print the numbers) once this file exists, even before the time is up.")
    var stopFile: String?

    /// What one connection measured.
    struct Tally: Sendable {
        var acknowledgedEvents = 0
        var failedRequests = 0
        var refusedRequests = 0
        var latenciesMicros: [Int] = []
    }

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let runID = UInt64.random(in: 0..<UInt64.max)
        let started = ContinuousClock.now
        let deadline = started + .seconds(durationSeconds)
        let results = try await withThrowingTaskGroup(of: Tally.self) { group in
            for connection in 0..<connections {
                group.addTask {
                    try await self.drive(client: client, connection: connection, runID: runID, until: deadline)
                }
            }
            var all: [Tally] = []
            for try await result in group { all.append(result) }
            return all
        }
        let elapsed = ContinuousClock.now - started
        try await client.shutdown()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let events = results.reduce(0) { $0 + $1.acknowledgedEvents }
        let failures = results.reduce(0) { $0 + $1.failedRequests }
        let refusals = results.reduce(0) { $0 + $1.refusedRequests }
        let latencies = results.flatMap(\.latenciesMicros).sorted()
        func percentile(_ p: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            return Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000
        }
        print("requests=\(latencies.count) failed=\(failures) acknowledged_events=\(events)")
        print("refused_then_retried=\(refusals)")
        print(
            String(
                format: "events_per_second=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f seconds=%.1f",
                Double(events) / seconds, percentile(0.5), percentile(0.99), Double(latencies.last ?? 0) / 1000,
                seconds))
    }

    private func drive(
        client: HTTPClient, connection: Int, runID: UInt64, until deadline: ContinuousClock.Instant
    ) async throws -> Tally {
        var tally = Tally()
        var sequence = 0
        let modelNames = ["gpt-4", "gpt-4o", "small", "large"]
        let prefix = Array(#"{"id":"\#(runID)-\#(connection)-"#.utf8)
        let models = modelNames.map { Array($0.utf8) }
        var body = [UInt8]()
        body.reserveCapacity(batchEvents * 256)
        let maxRequests = maxEvents.map { ($0 / max(1, connections) + batchEvents - 1) / batchEvents } ?? Int.max
        var requests = 0
        while ContinuousClock.now < deadline, requests < maxRequests,
            stopFile.map({ !FileManager.default.fileExists(atPath: $0) }) ?? true
        {
            requests += 1
            body.removeAll(keepingCapacity: true)
            let now = Int64(Date().timeIntervalSince1970)
            let time = Array(Timestamp(seconds: now).description.utf8)
            body.append(UInt8(ascii: "["))
            for index in 0..<batchEvents {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                if randomIds {
                    body += #"{"id":""#.utf8
                    body += UUID().uuidString.lowercased().utf8
                } else {
                    body += prefix
                    body += String(sequence).utf8
                }
                body += #"","source":"loadgen","specversion":"1.0","type":"request","subject":"customer-"#.utf8
                body += String(randomSubjects ? Int.random(in: 0..<max(1, subjects)) : sequence % subjects).utf8
                body += #"","time":""#.utf8
                if spreadDays > 0 {
                    let offset = Int64.random(in: 0..<(Int64(spreadDays) * 86_400))
                    body += Timestamp(seconds: now - offset).description.utf8
                } else {
                    body += time
                }
                body += #"","data":{"tokens":"#.utf8
                body += String(sequence % 97).utf8
                body += #","duration_ms":""#.utf8
                body += String(sequence % 13).utf8
                body += #".5","model":""#.utf8
                body += models[sequence % models.count]
                body += #"","user":"u"#.utf8
                body += String(sequence % 50).utf8
                body += #""}}"#.utf8
                sequence += 1
            }
            body.append(UInt8(ascii: "]"))
            var request = HTTPClientRequest(url: url + "/api/v1/events")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/cloudevents-batch+json")
            if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
            request.body = .bytes(ByteBuffer(bytes: body))
            let sent = ContinuousClock.now
            var response = try await client.execute(request, timeout: .seconds(30))
            // A 503 (queue full, aggregates behind: nothing stored) is retried as real clients do; the latency
            // includes the retries.
            while response.status == .serviceUnavailable, ContinuousClock.now < deadline {
                _ = try await response.body.collect(upTo: 1 << 20)
                tally.refusedRequests += 1
                try await Task.sleep(for: .milliseconds(retryAfterRefusalMs))
                response = try await client.execute(request, timeout: .seconds(30))
            }
            _ = try await response.body.collect(upTo: 1 << 20)
            let latency = ContinuousClock.now - sent
            tally.latenciesMicros.append(
                Int(latency.components.seconds * 1_000_000 + latency.components.attoseconds / 1_000_000_000_000))
            if response.status == .noContent {
                tally.acknowledgedEvents += batchEvents
            } else {
                tally.failedRequests += 1
            }
        }
        return tally
    }
}
