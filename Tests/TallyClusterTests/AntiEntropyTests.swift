import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// Anti-entropy on real processes: the coordinator compares the digests of every slot's copies while clients keep
/// sending; the owner of a slot whose replica differs takes what only the replica holds, and the replica is dropped,
/// deleted and copied again from the owner. Writes to the compared slots wait for the comparison, so a busy slot is
/// never taken for a differing one.
@Suite(.serialized) struct AntiEntropyTests {
    @Test func aReplicaThatDiffersFromItsOwnerIsCopiedAgainWhileEventsKeepFlowing() async throws {
        let cluster = try ClusterProcesses(
            workers: 3, probeIntervalMs: 100,
            clusterSettings: ["antiEntropyIntervalMs: 20", "antiEntropySlotsPerRound: 128"])
        do {
            try await cluster.waitReady()
            for meter in ClusterMoveTests.meters {
                #expect(try await cluster.api(.POST, "/api/v1/meters", meter).status == 201)
            }
            let acknowledged = ClusterMoveTests.Acknowledged()
            let coordinatorURL = cluster.coordinator.baseURL
            try await ReplicationTests.acknowledgeBatches(
                coordinatorURL, prefix: "before", count: 20, into: acknowledged)
            let stop = ClusterMoveTests.StopFlag()
            let loader = ReplicationTests.load(coordinatorURL, into: acknowledged, until: stop)
            // A full cycle over the slots with everything equal: no copy differs.
            let equal = try await ReplicationTests.status(of: cluster) { status in
                guard case .number(let text)? = status["antiEntropy"]?["slotsCompared"] else { return false }
                return Int(text) ?? 0 >= 1024
            }
            #expect(equal["antiEntropy"]?["mismatches"] == .number("0"))
            #expect(equal["antiEntropy"]?["lastMismatch"] == .null)

            // An event only one replica of customer-0's slot stores (sent to it alone, as the coordinator would).
            let names = ["w1", "w2", "w3"]
            let table = SlotPlanner.withReplicas(
                SlotPlanner.initial(workers: names, slotCount: 1024), factor: 2, candidates: names)
            let slot = table.slot(of: "customer-0")
            let replica = try #require(table.replicas[slot].first)
            let injected = try await TestHTTP.send(
                .POST, cluster.workerURL(replica) + "/internal/v1/events",
                body: #"[{"specversion":"1.0","id":"stray","source":"test","type":"usage","subject":"customer-0","#
                    + #""time":"2026-03-02T12:00:00Z","data":{"tokens":5}}]"#,
                contentType: "application/cloudevents-batch+json",
                headers: [
                    ("Tally-Epoch", "1"),
                    ("Tally-Catalog-Version", JSONWriter.string(equal["catalogVersion"] ?? .null)),
                ],
                client: cluster.peerClient)
            #expect(injected.status == 204, "\(injected.body)")
            // No event a copy holds is dropped: the owner takes it too, so it counts like an acknowledged one.
            acknowledged.record([(subject: "customer-0", tokens: 5)])

            let repaired = try await ReplicationTests.status(of: cluster) { status in
                status["antiEntropy"]?["mismatches"] == .number("1") && status["move"] == .null
                    && status["minimumCopies"] == .number("2") && status["epoch"] != .number("1")
            }
            let mismatch = repaired["antiEntropy"]?["lastMismatch"]
            #expect(mismatch?["slot"] == .number(String(slot)))
            #expect(mismatch?["worker"] == .string(replica))
            #expect(mismatch?["owner"] == .string(table.owners[slot]))
            if case .number(let owner)? = mismatch?["ownerEvents"], case .number(let copy)? = mismatch?["copyEvents"] {
                #expect(Int(copy) == (Int(owner) ?? 0) + 1)
            } else {
                Issue.record("the mismatch has no event counts: \(String(describing: mismatch))")
            }
            #expect(
                cluster.coordinator.errors.contains("anti-entropy: a copy differs from its owner's; making it equal"))
            let acknowledgedAtRepair = acknowledged.total
            while acknowledged.total < acknowledgedAtRepair + 100 { try await Task.sleep(for: .milliseconds(10)) }
            stop.stop()
            #expect(try await loader.value > 5)
            // Equal again: every copy holds the stray event once, and every acknowledged event is counted once.
            try await ClusterMoveTests.expectExact(cluster, acknowledged)
            let final = try await ReplicationTests.status(of: cluster) { _ in true }
            #expect(final["antiEntropy"]?["mismatches"] == .number("1"))
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
