import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// Replication factor 2 on real processes: every acknowledged event is committed by both copies of its slot, so
/// losing a worker under continuous ingest loses nothing: its slots fail over to their replicas, the missing copies
/// are rebuilt on the other workers, and a worker that comes back is emptied before it holds anything again. Clients
/// retry a refused batch with the same ids until it is acknowledged (the Jepsen-style checker: every customer's
/// count and sum equal what was acknowledged, never more, never less, and both copies hold every event once).
@Suite(.serialized) struct ReplicationTests {
    typealias Acknowledged = ClusterMoveTests.Acknowledged

    /// Sends the batch `prefix` until it is acknowledged (at most 60 s); the refusals it met on the way.
    static func sendUntilAcknowledged(
        _ baseURL: String, prefix: String, offset: Int, into acknowledged: Acknowledged
    ) async throws -> Int {
        let deadline = Date().addingTimeInterval(60)
        var refusals = 0
        while Date() < deadline {
            let attempt = Acknowledged()
            try await ClusterMoveTests.send(baseURL, prefix: prefix, size: 20, offset: offset, into: attempt)
            if attempt.total > 0 {
                acknowledged.add(attempt)
                return refusals
            }
            refusals += 1
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NodeProcess.StartFailure(description: "batch \(prefix) was not acknowledged within 60 s")
    }

    /// Sends batches `prefix-0` to `prefix-(count - 1)`, each until it is acknowledged.
    static func acknowledgeBatches(
        _ baseURL: String, prefix: String, count: Int, into acknowledged: Acknowledged
    ) async throws {
        for batch in 0..<count {
            _ = try await sendUntilAcknowledged(
                baseURL, prefix: "\(prefix)-\(batch)", offset: batch, into: acknowledged)
        }
    }

    /// Sends batches `during-N` one after the other, each until it is acknowledged, until `stop`; the batches sent.
    static func load(
        _ baseURL: String, into acknowledged: Acknowledged, until stop: ClusterMoveTests.StopFlag
    ) -> Task<Int, any Error> {
        Task {
            var batch = 0
            while !stop.stopped {
                _ = try await sendUntilAcknowledged(
                    baseURL, prefix: "during-\(batch)", offset: batch, into: acknowledged)
                batch += 1
            }
            return batch
        }
    }

    /// `GET /api/v1/cluster` once `done` holds for it (polled every 50 ms, at most `seconds`).
    static func status(
        of cluster: ClusterProcesses, within seconds: Double = 120, until done: (JSONValue) -> Bool
    ) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let status = try #require(try await cluster.api(.GET, "/api/v1/cluster").json)
            if done(status) { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NodeProcess.StartFailure(description: "the cluster did not reach the awaited state in \(seconds) s")
    }

    static func worker(_ name: String, in status: JSONValue) -> JSONValue? {
        status["workers"]?.arrayValue?.first { $0["name"] == .string(name) }
    }

    /// A 3-worker cluster (replication factor 2 by default) with the two meters and 20 acknowledged batches; `fault`
    /// runs while clients keep sending, then the test waits until the worker `lost` is failed over and every slot has
    /// two copies again (and, when it `comesBack`, until it is emptied), runs `recover`, checks that everything
    /// acknowledged is counted once, and runs `after`.
    static func withFaultUnderLoad(
        clusterSettings: [String], lost: String, comesBack: Bool,
        fault: (ClusterProcesses) async throws -> Void, recover: (ClusterProcesses) async throws -> Void = { _ in },
        after: (ClusterProcesses, Acknowledged, JSONValue) async throws -> Void
    ) async throws {
        let cluster = try ClusterProcesses(workers: 3, probeIntervalMs: 100, clusterSettings: clusterSettings)
        do {
            try await cluster.waitReady()
            for meter in ClusterMoveTests.meters {
                #expect(try await cluster.api(.POST, "/api/v1/meters", meter).status == 201)
            }
            let initial = try await status(of: cluster) { _ in true }
            #expect(initial["replicationFactor"] == .number("2"))
            #expect(initial["minimumCopies"] == .number("2"))
            let acknowledged = Acknowledged()
            let coordinatorURL = cluster.coordinator.baseURL
            try await acknowledgeBatches(coordinatorURL, prefix: "before", count: 20, into: acknowledged)
            #expect(try await cluster.storedEvents() == acknowledged.total)
            #expect(try await cluster.storedEvents(.replica) == acknowledged.total)

            let stop = ClusterMoveTests.StopFlag()
            let loader = load(coordinatorURL, into: acknowledged, until: stop)
            while acknowledged.total < 20 * 20 + 100 { try await Task.sleep(for: .milliseconds(10)) }
            try await fault(cluster)
            let failedOver = try await status(of: cluster) { status in
                worker(lost, in: status)?["lost"] == .bool(true)
            }
            #expect(worker(lost, in: failedOver)?["slots"] == .number("0"))
            #expect(worker(lost, in: failedOver)?["replicas"] == .number("0"))
            // The repairs give every slot its second copy.
            let repaired = try await status(of: cluster) { status in
                status["minimumCopies"] == .number("2") && status["move"] == .null
                    && (!comesBack || worker(lost, in: status)?["lost"] == .bool(false))
            }
            let acknowledgedAtRepair = acknowledged.total
            while acknowledged.total < acknowledgedAtRepair + 100 { try await Task.sleep(for: .milliseconds(10)) }
            stop.stop()
            #expect(try await loader.value > 5)
            #expect(cluster.coordinator.errors.contains("worker failed over"))
            #expect(cluster.coordinator.errors.contains("repair done"))
            try await recover(cluster)
            try await ClusterMoveTests.expectExact(cluster, acknowledged)
            try await after(cluster, acknowledged, repaired)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    /// `worker` was emptied before it held anything again, then took its share of replicas back (it owns no slot:
    /// primaries are not rebalanced), and five more batches are counted exactly, every copy equal.
    static func expectEmptiedAndExact(
        _ worker: String, _ cluster: ClusterProcesses, _ acknowledged: Acknowledged
    ) async throws {
        let deadline = Date().addingTimeInterval(60)
        while !cluster.coordinator.errors.contains("lost worker emptied; it may hold copies again"), Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(cluster.coordinator.errors.contains("lost worker emptied; it may hold copies again"))
        try await acknowledgeBatches(cluster.coordinator.baseURL, prefix: "after", count: 5, into: acknowledged)
        try await ClusterMoveTests.expectExact(cluster, acknowledged)
        let settled = try await ClusterMoveTests.waitForSettled(cluster)
        #expect(Self.worker(worker, in: settled)?["slots"] == .number("0"))
        #expect(Self.worker(worker, in: settled)?["replicas"] != .number("0"))
        let back = try await cluster.worker(worker, "/internal/v1/assignment")
        #expect(back.json?["events"] == .number("0"))
        #expect(back.json?["epoch"] == settled["epoch"])
    }

    @Test func aKilledWorkerFailsOverWithEveryAcknowledgedEventCountedOnceAndComesBackEmpty() async throws {
        try await Self.withFaultUnderLoad(
            clusterSettings: ["workerFailureTimeoutMs: 1000"], lost: "w2", comesBack: false,
            fault: { cluster in cluster.killWorker("w2") },
            after: { cluster, acknowledged, repaired in
                // The two workers left hold every slot: each replicates what the other owns.
                #expect(Self.worker("w1", in: repaired)?["replicas"] == Self.worker("w3", in: repaired)?["slots"])
                #expect(Self.worker("w3", in: repaired)?["replicas"] == Self.worker("w1", in: repaired)?["slots"])
                // w2 comes back with its old data: it is emptied before it takes replicas again, and nothing is
                // counted twice.
                try cluster.startWorker("w2")
                _ = try await Self.status(of: cluster) { status in
                    Self.worker("w2", in: status)?["state"] == .string("up")
                        && Self.worker("w2", in: status)?["lost"] == .bool(false)
                }
                try await Self.expectEmptiedAndExact("w2", cluster, acknowledged)
            })
    }

    @Test func aWorkerBackWithoutItsDataIsFailedOverAndRebuiltFromTheOtherCopies() async throws {
        // A failure timeout far longer than the restart: the coordinator learns of the loss from the empty worker.
        try await Self.withFaultUnderLoad(
            clusterSettings: ["workerFailureTimeoutMs: 60000"], lost: "w3", comesBack: true,
            fault: { cluster in
                cluster.killWorker("w3")
                try cluster.wipeWorker("w3")
                try cluster.startWorker("w3")
            },
            after: { cluster, _, repaired in
                #expect(cluster.coordinator.errors.contains("its data folder was lost"))
                // Rebuilt from the other copies: every slot has two copies again and each copy holds every event
                // once (checked above). The copies w3 lost went to the workers up when the repair was planned: to
                // w3 too when it was up by then (it owns nothing: primaries are not rebalanced onto a worker).
                #expect(Self.worker("w3", in: repaired)?["slots"] == .number("0"))
                #expect(Self.worker("w3", in: repaired)?["state"] == .string("up"))
            })
    }

    @Test func aPausedPrimaryResumedAfterItsFailoverIsFencedAndEmptied() async throws {
        try await Self.withFaultUnderLoad(
            clusterSettings: ["workerFailureTimeoutMs: 1000"], lost: "w1", comesBack: false,
            fault: { cluster in
                let paused = try #require(cluster.workers["w1"])
                kill(paused.process.processIdentifier, SIGSTOP)
            },
            recover: { cluster in
                let resumed = try #require(cluster.workers["w1"])
                kill(resumed.process.processIdentifier, SIGCONT)
                // Requests it took before the pause may commit now, at the old epoch: none was acknowledged, and it
                // is emptied before it holds anything again.
                _ = try await Self.status(of: cluster) { status in
                    Self.worker("w1", in: status)?["state"] == .string("up")
                        && Self.worker("w1", in: status)?["lost"] == .bool(false)
                }
            },
            after: { cluster, acknowledged, _ in
                try await Self.expectEmptiedAndExact("w1", cluster, acknowledged)
            })
    }
}
