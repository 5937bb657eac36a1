import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// Draining a worker online on real processes: `DELETE /api/v1/cluster/workers/{name}` copies its slots to the
/// workers that keep them while clients keep sending (retrying refused batches with the same ids), switches to the
/// table without it, empties it and takes it out of the cluster; every acknowledged event is counted once.
@Suite(.serialized) struct DrainTests {
    typealias Acknowledged = ClusterMoveTests.Acknowledged

    /// A 3-worker cluster (`clusterSettings` added) with the two meters and 20 acknowledged batches; drains `drained`
    /// under load, checks that it left holding nothing and that everything acknowledged is counted once (`copies`
    /// copies of each event), and runs `after` on the status once drained.
    static func drainUnderLoad(
        _ drained: String, clusterSettings: [String], copies: Int,
        after: (ClusterProcesses, JSONValue) async throws -> Void
    ) async throws {
        let cluster = try ClusterProcesses(workers: 3, probeIntervalMs: 100, clusterSettings: clusterSettings)
        do {
            try await cluster.waitReady()
            for meter in ClusterMoveTests.meters {
                #expect(try await cluster.api(.POST, "/api/v1/meters", meter).status == 201)
            }
            let acknowledged = Acknowledged()
            let coordinatorURL = cluster.coordinator.baseURL
            try await ReplicationTests.acknowledgeBatches(
                coordinatorURL, prefix: "before", count: 20, into: acknowledged)
            let stop = ClusterMoveTests.StopFlag()
            let loader = ReplicationTests.load(coordinatorURL, into: acknowledged, until: stop)
            while acknowledged.total < 20 * 20 + 100 { try await Task.sleep(for: .milliseconds(10)) }

            let unknown = try await cluster.api(.DELETE, "/api/v1/cluster/workers/w9")
            #expect(unknown.status == 404)
            #expect(unknown.json?["type"] == .string("urn:tally:problem:worker-not-found"))
            #expect(unknown.json?["detail"] == .string("the cluster has no worker w9"))
            let reply = try await cluster.api(.DELETE, "/api/v1/cluster/workers/\(drained)")
            #expect(reply.status == 202, "\(reply.body)")
            #expect(reply.json?["kind"] == .string("drain"))
            #expect(reply.json?["worker"] == .string(drained))
            #expect(reply.json?["phase"] == .string("copying"))

            let done = try await ReplicationTests.status(of: cluster, within: 240) { status in
                ReplicationTests.worker(drained, in: status) == nil && status["move"] == .null
            }
            #expect(done["drain"] == .null)
            #expect(
                done["workers"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
                    == ["w1", "w2", "w3"].filter {
                        $0 != drained
                    })
            let acknowledgedAtDrain = acknowledged.total
            while acknowledged.total < acknowledgedAtDrain + 100 { try await Task.sleep(for: .milliseconds(10)) }
            stop.stop()
            #expect(try await loader.value > 5)
            // It is emptied once it has left (queries and writes go on meanwhile).
            let deadline = Date().addingTimeInterval(120)
            while !cluster.coordinator.errors.contains("worker drained: it left the cluster"), Date() < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(cluster.coordinator.errors.contains("worker drained: it left the cluster"))

            // It holds nothing, takes the last table (it refuses every slot), and no longer counts anywhere.
            let left = try await cluster.worker(drained, "/internal/v1/assignment")
            #expect(left.json?["events"] == .number("0"))
            #expect(left.json?["replicaEvents"] == .number("0"))
            #expect(left.json?["epoch"] == done["epoch"])
            try await ClusterMoveTests.expectExact(cluster, acknowledged, copies: copies)
            #expect(try await cluster.api(.DELETE, "/api/v1/cluster/workers/\(drained)").status == 404)
            try await after(cluster, done)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    @Test func drainingAWorkerUnderLoadKeepsTwoCopiesOfEverySlotAndCountsEveryEventOnce() async throws {
        try await Self.drainUnderLoad("w3", clusterSettings: [], copies: 2) { _, done in
            // Two workers left with factor 2: each replicates what the other owns.
            #expect(done["minimumCopies"] == .number("2"))
            let (w1, w2) = (ReplicationTests.worker("w1", in: done), ReplicationTests.worker("w2", in: done))
            #expect(w1?["replicas"] == w2?["slots"])
            #expect(w2?["replicas"] == w1?["slots"])
        }
    }

    @Test func drainingAWorkerWithoutReplicationMovesItsSlotsAndCountsEveryEventOnce() async throws {
        try await Self.drainUnderLoad("w2", clusterSettings: ["replicationFactor: 1"], copies: 1) { _, done in
            #expect(done["minimumCopies"] == .number("1"))
            let slots = ["w1", "w3"].compactMap { name -> Int? in
                guard case .number(let text)? = ReplicationTests.worker(name, in: done)?["slots"] else { return nil }
                return Int(text)
            }
            #expect(slots.reduce(0, +) == 1024)
            #expect(slots.allSatisfy { $0 >= 500 })
        }
    }
}
