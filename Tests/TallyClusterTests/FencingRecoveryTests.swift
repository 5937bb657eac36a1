import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// The coordinator's refresh-and-retry without replication: a worker that lost its state (no slot table, no meters)
/// fences the first request it gets; the coordinator pushes it its assignment and retries once, and the client sees
/// only success. (With replication such a worker is failed over instead: `ReplicationTests`.)
@Suite struct FencingRecoveryTests {
    @Test func aWorkerWithoutItsAssignmentIsRefreshedOnItsFirstRequest() async throws {
        let cluster = try ClusterProcesses(
            workers: 2, probeIntervalMs: 3_600_000, clusterSettings: ["replicationFactor: 1"])
        do {
            try await cluster.waitReady()
            #expect(
                try await cluster.api(
                    .POST, "/api/v1/meters", #"{"slug":"calls","aggregation":"COUNT","eventType":"call"}"#
                ).status == 201)
            cluster.killWorker("w2")
            try cluster.wipeWorker("w2")
            try cluster.startWorker("w2")
            let fresh = try await cluster.worker("w2", "/internal/v1/assignment").json
            #expect(fresh?["epoch"] == .number("0"))
            #expect(fresh?["catalogVersion"] == .number("0"))

            let events = (0..<200).map {
                #"{"specversion":"1.0","id":"\#($0)","source":"t","type":"call","subject":"c\#($0)","#
                    + #""time":"2024-01-01T00:00:00Z"}"#
            }
            let ingest = try await cluster.api(
                .POST, "/api/v1/events", "[" + events.joined(separator: ",") + "]",
                contentType: "application/cloudevents-batch+json")
            #expect(ingest.status == 204, "\(ingest.body)")
            let refreshed = try await cluster.worker("w2", "/internal/v1/assignment").json
            #expect(refreshed?["epoch"] == .number("1"))
            #expect(refreshed?["catalogVersion"] == .number("1"))
            let answer = try await cluster.api(
                .GET, "/api/v1/meters/calls/query?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z")
            #expect(answer.json?["data"]?.arrayValue?.first?["value"] == .number("200"))
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
