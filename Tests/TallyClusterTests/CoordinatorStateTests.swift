import Foundation
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore
import Testing

@testable import TallyCluster

@Suite struct CoordinatorStateTests {
    func settings(_ workers: [String], slots: Int = 64, port: Int = 8081) -> ClusterSettings {
        var settings = ClusterSettings()
        settings.slots = slots
        settings.workers = workers.enumerated().map { .init(name: $1, url: "https://127.0.0.1:\(port + $0)") }
        return settings
    }

    func path() -> String { NSTemporaryDirectory() + "tally-coordinator-\(UUID().uuidString).sqlite" }

    @Test func firstStartCreatesTheTableAndLaterStartsKeepIt() async throws {
        let file = path()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let spec = MeterSpec(
            slug: "tokens", aggregation: .sum, eventType: "prompt", valueProperty: try JSONPath(parsing: "$.tokens"))
        let first = try CoordinatorState(path: file, settings: settings(["w1", "w2"]), meters: [spec])
        let initial = SlotPlanner.initial(workers: ["w1", "w2"], slotCount: 64)
        // Replication factor 2 by default: each slot's replica is the other worker.
        #expect(first.snapshot.table.owners == initial.owners)
        #expect(first.snapshot.table.replicas == initial.owners.map { [$0 == "w1" ? "w2" : "w1"] })
        #expect(first.snapshot.catalogVersion == 1)
        var meter = try #require(first.snapshot.liveMeter("tokens"))
        meter.name = "Tokens"
        #expect(try await first.put(meter).catalogVersion == 2)

        let second = try CoordinatorState(path: file, settings: settings(["w2", "w1"], port: 9001), meters: [spec])
        #expect(second.snapshot.table == first.snapshot.table)
        #expect(second.snapshot.catalogVersion == 2)
        #expect(second.snapshot.liveMeter("tokens")?.name == "Tokens")
        #expect(second.snapshot.workerURLs == ["w2": "https://127.0.0.1:9001", "w1": "https://127.0.0.1:9002"])
    }

    @Test func refusesAnotherSlotCountOrWorkerSet() throws {
        let file = path()
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try CoordinatorState(path: file, settings: settings(["w1", "w2"]))
        #expect(throws: CoordinatorState.Refusal.self) {
            try CoordinatorState(path: file, settings: settings(["w1", "w2"], slots: 128))
        }
        #expect(throws: CoordinatorState.Refusal.self) {
            try CoordinatorState(path: file, settings: settings(["w1", "w2", "w3"]))
        }
        #expect(throws: CoordinatorState.Refusal.self) { try CoordinatorState(path: file, settings: settings(["w1"])) }
    }

    @Test func aSecondLiveMeterWithTheSameSlugIsRefused() async throws {
        let file = path()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let state = try CoordinatorState(path: file, settings: settings(["w1"]))
        let spec = MeterSpec(slug: "calls", aggregation: .count, eventType: "call")
        let first = MeterDefinition(id: "m1", spec: spec, createdAt: .now)
        _ = try await state.put(first)
        await #expect(throws: StoreError.slugTaken("calls")) {
            try await state.put(MeterDefinition(id: "m2", spec: spec, createdAt: .now))
        }
        var deleted = first
        deleted.deletedAt = .now
        _ = try await state.put(deleted)
        let snapshot = try await state.put(MeterDefinition(id: "m2", spec: spec, createdAt: .now))
        #expect(snapshot.liveMeter("calls")?.id == "m2")
        #expect(snapshot.meters.map(\.id) == ["m1", "m2"])
        #expect(snapshot.catalogVersion == 3)
    }

    @Test func anAdditionIsUndoneWhileCopyingOrSwitchingAndNotOnceItCleansUp() async throws {
        let file = path()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let state = try CoordinatorState(path: file, settings: settings(["w1", "w2"]))
        let initial = state.snapshot.table
        await #expect(throws: CoordinatorState.RemovalRefusal.unknownWorker("w3")) {
            try await state.cancelAddition(of: "w3")
        }

        let copying = try await state.planAddition(worker: "w3", url: "https://127.0.0.1:9003")
        #expect(try await state.cancelAddition(of: "w1") == nil)
        let first = try #require(try await state.cancelAddition(of: "w3"))
        #expect(first.id == copying.id)
        #expect(first.phase == .cancelled)
        #expect(state.snapshot.move == nil)
        #expect(state.snapshot.table == initial)
        #expect(state.snapshot.workers == ["w1", "w2"])

        let switching = try await state.planAddition(worker: "w3", url: "https://127.0.0.1:9003")
        try await state.switchOver()
        #expect(state.snapshot.table.epoch == 2)
        #expect(try await state.cancelAddition(of: "w3")?.id == switching.id)
        #expect(state.snapshot.table == SlotTable(epoch: 3, owners: initial.owners, replicas: initial.replicas))
        #expect(state.snapshot.workers == ["w1", "w2"])

        let cleaning = try await state.planAddition(worker: "w3", url: "https://127.0.0.1:9003")
        #expect(cleaning.plan.target.epoch == 4)
        try await state.switchOver()
        try await state.startCleaning()
        await #expect(throws: CoordinatorState.RemovalRefusal.tooLate(moveID: cleaning.id)) {
            try await state.cancelAddition(of: "w3")
        }
        try await state.finishMove()

        let reopened = try CoordinatorState(path: file, settings: settings(["w1", "w2"]))
        #expect(reopened.snapshot.move == nil)
        #expect(reopened.snapshot.table == cleaning.plan.target)
        #expect(reopened.snapshot.workers == ["w1", "w2", "w3"])
    }

    @Test func aDrainCopiesThenSwitchesAndTheWorkerLeavesForGoodButCanJoinAgain() async throws {
        let file = path()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let state = try CoordinatorState(path: file, settings: settings(["w1", "w2", "w3"]))
        await #expect(throws: CoordinatorState.RemovalRefusal.unknownWorker("w9")) {
            try await state.startDrain(of: "w9")
        }
        let drain = try await state.startDrain(of: "w3")
        #expect(try await state.startDrain(of: "w3") == drain)
        await #expect(throws: CoordinatorState.RemovalRefusal.drainInProgress(worker: "w3", drainID: drain.id)) {
            try await state.startDrain(of: "w1")
        }
        await #expect(throws: CoordinatorState.AdditionRefusal.moveInProgress(id: drain.id)) {
            try await state.planAddition(worker: "w4", url: "https://127.0.0.1:9004")
        }
        #expect(try CoordinatorState(path: file, settings: settings(["w1", "w2", "w3"])).snapshot.drain == drain)

        try await state.markAssigned("w3")
        let everyone: Set<String> = ["w1", "w2", "w3"]
        var kinds: [SlotMovePlan.Kind] = []
        while let move = try await state.planDrainStep(factor: 2, candidates: everyone, sources: everyone) {
            kinds.append(move.plan.kind)
            try await state.switchOver()
            if move.plan.kind == .drain {
                try await state.startCleaning()
                try await state.finishDrain()
            } else {
                try await state.finishMove()
            }
        }
        #expect(kinds == [.repair, .repair, .drain])
        #expect(state.snapshot.workers == ["w1", "w2"])
        #expect(state.snapshot.drain == nil)
        #expect(!state.snapshot.assignedWorkers.contains("w3"))
        #expect(state.snapshot.table.holders == ["w1", "w2"])
        #expect(state.snapshot.table.minimumCopies == 2)
        #expect(try CoordinatorState.storedWorkers(path: file)! == (["w1", "w2", "w3"], [], ["w3"]))

        // The configuration that seeded the cluster still opens it; the drained worker stays out, and may join again.
        let reopened = try CoordinatorState(path: file, settings: settings(["w1", "w2", "w3"]))
        #expect(reopened.snapshot.workers == ["w1", "w2"])
        _ = try await reopened.planAddition(worker: "w3", url: "https://127.0.0.1:9013")
        #expect(reopened.snapshot.workerURLs["w3"] == "https://127.0.0.1:9013")
        // It joins as a new worker: no slot table is expected of it.
        #expect(!reopened.snapshot.assignedWorkers.contains("w3"))
        await #expect(throws: CoordinatorState.RemovalRefusal.lastWorker("w1")) {
            try await CoordinatorState(path: path(), settings: settings(["w1"])).startDrain(of: "w1")
        }
    }

    @Test func aFailoverPromotesReplicasMarksTheWorkerLostAndRepairsFollow() async throws {
        let file = path()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let state = try CoordinatorState(path: file, settings: settings(["w1", "w2", "w3"]))
        let initial = state.snapshot.table
        #expect(initial.minimumCopies == 2)
        // A repair is planned only for slots that lack a copy.
        #expect(try await state.planRepair(factor: 2, candidates: ["w1", "w2", "w3"]) == nil)

        let failed = try #require(try await state.failOver("w2"))
        #expect(failed == SlotPlanner.failingOver("w2", in: initial))
        #expect(state.snapshot.table == failed)
        #expect(state.snapshot.lostWorkers == ["w2"])
        #expect(try await state.failOver("w2") == nil)

        // The lost worker is never a candidate until it is emptied.
        let repair = try #require(try await state.planRepair(factor: 2, candidates: ["w1", "w2", "w3"]))
        #expect(repair.plan == SlotMovePlan.repairing(failed, factor: 2, candidates: ["w1", "w3"]))
        #expect(repair.url == "https://127.0.0.1:8081")
        #expect(try await state.planRepair(factor: 2, candidates: ["w1", "w3"]) == nil)
        // A repair whose worker went down is cancelled; the next one is planned the same way.
        try await state.cancelRepair(repair.id)
        #expect(state.snapshot.move == nil)
        #expect(state.snapshot.table == failed)
        let again = try #require(try await state.planRepair(factor: 2, candidates: ["w1", "w3"]))
        #expect(again.plan == repair.plan)
        #expect(again.id != repair.id)

        // A failover while the repair copies cancels it; w3's slots go to their replicas on w1, but those the repair
        // was copying have no other copy and stay on w3.
        let second = try #require(try await state.failOver("w3"))
        #expect(state.snapshot.move == nil)
        #expect(second.epoch == failed.epoch + 1)
        let stranded = again.plan.movingSlots
        #expect(second.owners == (0..<64).map { stranded.contains($0) ? "w3" : "w1" })
        #expect(state.snapshot.lostWorkers == ["w2", "w3"])
        try await state.markEmptied("w2")

        let reopened = try CoordinatorState(path: file, settings: settings(["w1", "w2", "w3"]))
        #expect(reopened.snapshot.lostWorkers == ["w3"])
        #expect(reopened.snapshot.table == second)
        let rebuilt = try #require(try await reopened.planRepair(factor: 2, candidates: ["w1", "w2", "w3"]))
        // Only slots whose owner is live can be copied.
        #expect(rebuilt.plan.worker == "w2")
        #expect(rebuilt.plan.movingSlots == Set(0..<64).subtracting(stranded))
    }

    @Test func withoutReplicationAFailoverChangesNothing() async throws {
        let file = path()
        defer { try? FileManager.default.removeItem(atPath: file) }
        var single = settings(["w1", "w2"])
        single.replicationFactor = 1
        let state = try CoordinatorState(path: file, settings: single)
        #expect(state.snapshot.table.minimumCopies == 1)
        #expect(try await state.failOver("w1") == nil)
        #expect(state.snapshot.lostWorkers == [])
        #expect(state.snapshot.table.epoch == 1)
    }
}

@Suite struct ClusterSettingsTests {
    @Test func readsTheClusterSection() throws {
        let config = try NodeConfiguration.parse(
            yaml: """
                cluster:
                  slots: 256
                  forwardTimeoutMs: 500
                  workers:
                    - { name: w1, url: "https://10.0.0.1:7443/" }
                    - { name: w2, url: "https://10.0.0.2:7443" }
                """)
        let cluster = try #require(config.cluster)
        #expect(cluster.slots == 256)
        #expect(cluster.forwardTimeoutMs == 500)
        #expect(cluster.antiEntropyIntervalMs == 2000)
        #expect(cluster.antiEntropySlotsPerRound == 8)
        #expect(
            cluster.workers == [
                .init(name: "w1", url: "https://10.0.0.1:7443"), .init(name: "w2", url: "https://10.0.0.2:7443"),
            ])
    }

    @Test func reportsEveryInvalidField() {
        #expect {
            try NodeConfiguration.parse(
                yaml: """
                    cluster:
                      slots: 0
                      replicationFactor: 4
                      maxForwardBodyBytes: 999999999999
                      moveChunkEvents: 20001
                      antiEntropySlotsPerRound: 0
                      forwardTimeoutMs: 3600001
                      workerProbeIntervalMs: 2000
                      workerFailureTimeoutMs: 1000
                      colour: blue
                      workers:
                        - { name: w1, url: "http://10.0.0.1:7443" }
                        - { name: "bad name", url: "https://x" }
                    """)
        } throws: { error in
            (error as? NodeConfiguration.Invalid)?.errors == [
                FieldError(
                    field: "cluster.colour",
                    reason:
                        "unknown setting; known: slots, workers, replicationFactor, forwardTimeoutMs,"
                        + " workerProbeIntervalMs, workerFailureTimeoutMs, maxConnectionsPerWorker, certsDir,"
                        + " maxForwardBodyBytes, maxForwardsInFlightPerWorker, maxQueuedPartsPerWorker,"
                        + " moveChunkEvents, antiEntropyIntervalMs, antiEntropySlotsPerRound"
                ),
                FieldError(field: "cluster.slots", reason: "must be an integer from 1 to 16384"),
                FieldError(field: "cluster.replicationFactor", reason: "must be an integer from 1 to 3"),
                FieldError(field: "cluster.forwardTimeoutMs", reason: "must be an integer from 1 to 3600000"),
                FieldError(
                    field: "cluster.workerFailureTimeoutMs",
                    reason: "must be at least cluster.workerProbeIntervalMs (2000)"),
                FieldError(field: "cluster.maxForwardBodyBytes", reason: "must be an integer from 1 to 67108864"),
                FieldError(field: "cluster.moveChunkEvents", reason: "must be an integer from 1 to 20000"),
                FieldError(field: "cluster.antiEntropySlotsPerRound", reason: "must be an integer from 1 to 16384"),
                FieldError(
                    field: "cluster.workers[0].url",
                    reason: "must be an https:// URL (workers are reached over mutual TLS)"),
                FieldError(field: "cluster.workers[1].name", reason: "must be 1-64 letters, digits, '.', '_' or '-'"),
                FieldError(field: "cluster.workers", reason: "list at least one worker (name and url)"),
            ]
        }
    }

}
