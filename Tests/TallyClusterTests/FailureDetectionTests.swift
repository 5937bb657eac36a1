import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// The coordinator's failure detector on real processes: a worker paused with SIGSTOP is first suspect, then down
/// once it answered nothing for `workerFailureTimeoutMs`, and up again when resumed; while it is down, its customers'
/// requests fail at once and the other worker's customers are served (without replication: no copy takes over).
@Suite struct FailureDetectionTests {
    @Test func aPausedWorkerIsSuspectThenDownThenUpAgainWhenResumed() async throws {
        let cluster = try ClusterProcesses(
            workers: 2, probeIntervalMs: 100, clusterSettings: ["workerFailureTimeoutMs: 1500", "replicationFactor: 1"])
        do {
            try await cluster.waitReady()
            #expect(
                try await cluster.api(
                    .POST, "/api/v1/meters", #"{"slug":"calls","aggregation":"COUNT","eventType":"call"}"#
                ).status == 201)
            let table = SlotPlanner.initial(workers: ["w1", "w2"])
            let onW1 = try #require((0..<100).map { "c\($0)" }.first { table.owner(of: $0) == "w1" })
            let onW2 = try #require((0..<100).map { "c\($0)" }.first { table.owner(of: $0) == "w2" })
            func send(_ subject: String, _ id: String) async throws -> HTTPReply {
                try await cluster.api(
                    .POST, "/api/v1/events",
                    #"{"specversion":"1.0","id":"\#(id)","source":"t","type":"call","subject":"\#(subject)","#
                        + #""time":"2024-01-01T00:00:00Z"}"#,
                    contentType: "application/cloudevents+json")
            }
            #expect(try await send(onW2, "before").status == 204)

            let paused = try #require(cluster.workers["w2"])
            kill(paused.process.processIdentifier, SIGSTOP)
            var seen = ["up"]
            let deadline = Date().addingTimeInterval(30)
            while seen.last != "down", Date() < deadline {
                let state = try await stateOf("w2", in: cluster)
                if state != seen.last { seen.append(state) }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(seen.last == "down")
            #expect(!seen.dropFirst().contains("up"))
            // The coordinator's log holds every change, however slowly this test polled.
            let log = cluster.coordinator.errors.split(separator: "\n").filter { $0.contains("worker=w2") }
            let changes = log.compactMap { line in
                ["worker is suspect", "worker is down", "worker is up"].first { line.contains($0) }
            }
            #expect(changes == ["worker is up", "worker is suspect", "worker is down"])
            #expect(try await send(onW1, "while-down").status == 204)
            let refused = try await send(onW2, "while-down")
            #expect(refused.status == 503)
            #expect(refused.json?["type"] == .string("urn:tally:problem:worker-unavailable"))
            let part = refused.json?["parts"]?.arrayValue?.first
            #expect(part?["worker"] == .string("w2"))
            #expect(part?["status"] == .string("failed"))
            #expect(part?["reason"]?.stringValue?.hasPrefix("down since ") == true)
            #expect(try await cluster.api(.GET, "/readyz").status == 503)

            kill(paused.process.processIdentifier, SIGCONT)
            try await cluster.waitReady()
            #expect(try await stateOf("w2", in: cluster) == "up")
            #expect(try await send(onW2, "after").status == 204)
            let answer = try await cluster.api(
                .GET, "/api/v1/meters/calls/query?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z")
            #expect(answer.json?["data"]?.arrayValue?.first?["value"] == .number("3"))
        } catch {
            if let paused = cluster.workers["w2"] { kill(paused.process.processIdentifier, SIGCONT) }
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    private func stateOf(_ worker: String, in cluster: ClusterProcesses) async throws -> String {
        let workers = try await cluster.api(.GET, "/api/v1/cluster").json?["workers"]?.arrayValue ?? []
        return workers.first { $0["name"] == .string(worker) }?["state"]?.stringValue ?? "missing"
    }
}
