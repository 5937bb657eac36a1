import Testing

@testable import TallyCore

@Suite struct XXHash64Tests {
    /// Reference values from the xxHash reference implementation (Python `xxhash` 3.x, `xxh64(...).intdigest()`).
    @Test(arguments: [
        ("", 0 as UInt64, 0xEF46_DB37_51D8_E999 as UInt64),
        ("a", 0, 0xD24E_C4F1_A98C_6E5B),
        ("abc", 0, 0x44BC_2CF5_AD77_0999),
        ("customer-42", 0, 0xCA6E_96E9_5695_8C0F),
        ("Nobody inspects the spammish repetition", 0, 0xFBCE_A83C_8A37_8BF1),
        (String(repeating: "x", count: 100), 0, 0x92F0_DE5A_88A3_C094),
        ("héllo wörld — 0123456789abcdef!", 0, 0x2B1C_74BF_6AA1_FEAF),
        ("", 7, 0x95F0_626F_6F0A_4409),
        ("abc", 7, 0x9E75_5206_1566_76D7),
        ("Nobody inspects the spammish repetition", 7, 0x26F1_AEB3_9B9B_1F5F),
    ])
    func vectors(text: String, seed: UInt64, expected: UInt64) {
        #expect(XXHash64.hash(text, seed: seed) == expected)
    }

    @Test func slotsOfKnownSubjects() {
        #expect(SlotTable.slot(of: "customer-42", slotCount: 1024) == 15)
        #expect(SlotTable.slot(of: "abc", slotCount: 1024) == 409)
        #expect(SlotTable.slot(of: "a", slotCount: 1024) == 603)
    }
}

@Suite struct SlotPlannerTests {
    func names(_ count: Int) -> [String] { (1...count).map { "worker-\($0)" } }

    @Test(arguments: 1...16)
    func initialTableIsBalanced(workers: Int) {
        let table = SlotPlanner.initial(workers: names(workers), slotCount: 1024)
        let counts = table.slotCounts
        #expect(table.epoch == 1)
        #expect(counts.count == workers)
        #expect(counts.values.reduce(0, +) == 1024)
        let mean = 1024.0 / Double(workers)
        #expect(counts.values.allSatisfy { Double($0) <= mean + 1 })
        #expect(counts.values.max()! == (1024 + workers - 1) / workers)
        #expect(counts.values.min()! == 1024 / workers)
    }

    @Test func initialTableDoesNotDependOnListOrder() {
        #expect(SlotPlanner.initial(workers: ["b", "c", "a"]) == SlotPlanner.initial(workers: ["a", "b", "c"]))
    }

    @Test func threeWorkersHoldExactCounts() {
        let counts = SlotPlanner.initial(workers: ["w1", "w2", "w3"]).slotCounts
        #expect(counts.values.sorted() == [341, 341, 342])
    }

    @Test(arguments: 1...15)
    func addingAWorkerMovesOnlyOntoIt(existing: Int) {
        let before = SlotPlanner.initial(workers: names(existing), slotCount: 1024)
        let after = SlotPlanner.adding("worker-new", to: before)
        let moves = SlotPlanner.moves(from: before, to: after)
        #expect(after.epoch == before.epoch + 1)
        #expect(moves.allSatisfy { $0.to == "worker-new" })
        #expect(moves.count == 1024 / (existing + 1))
        let mean = 1024.0 / Double(existing + 1)
        #expect(after.slotCounts.values.allSatisfy { Double($0) <= mean + 1 })
        #expect(after.slotCounts.count == existing + 1)
    }

    @Test func repeatedGrowthStaysBalanced() {
        var table = SlotPlanner.initial(workers: ["w1"], slotCount: 1024)
        for next in 2...16 {
            table = SlotPlanner.adding("w\(next)", to: table)
            let mean = 1024.0 / Double(next)
            #expect(table.slotCounts.values.allSatisfy { Double($0) <= mean + 1 && $0 >= 1024 / next })
        }
        #expect(table.epoch == 16)
    }

    @Test func tableRoundTripsThroughJSON() {
        let table = SlotPlanner.initial(workers: ["w1", "w2"], slotCount: 16, epoch: 9)
        #expect(SlotTable(json: table.json) == table)
        #expect(SlotTable(json: .object(["epoch": .number("1"), "owners": .array([])])) == nil)
        let replicated = SlotPlanner.withReplicas(table, factor: 2, candidates: ["w1", "w2"])
        #expect(SlotTable(json: replicated.json) == replicated)
        #expect(table.json["replicas"] == nil)
        // A replica that is also the slot's owner, or a list per slot missing, is not a table.
        let owners: JSONValue = .array([.string("w1"), .string("w2")])
        let bad: [JSONValue] = [
            .array([.array([.string("w1")]), .array([.string("w1")])]), .array([.array([.string("w2")])]),
            .array([.array([.string("w2"), .string("w2")]), .array([])]),
        ]
        for replicas in bad {
            #expect(
                SlotTable(json: .object(["epoch": .number("1"), "owners": owners, "replicas": replicas])) == nil)
        }
    }
}

@Suite struct ReplicaPlacementTests {
    @Test(arguments: [(3, 2), (3, 3), (4, 2), (5, 3), (2, 2)])
    func everySlotHasItsCopiesOnDistinctWorkersBalancedWithinOne(workers: Int, factor: Int) {
        let names = (1...workers).map { "w\($0)" }
        let table = SlotPlanner.withReplicas(
            SlotPlanner.initial(workers: names, slotCount: 1024), factor: factor, candidates: names)
        for slot in 0..<1024 {
            #expect(table.replicas[slot].count == factor - 1)
            #expect(Set(table.holders(ofSlot: slot)).count == factor)
        }
        let counts = names.map { table.replicaCounts[$0, default: 0] }
        #expect(counts.reduce(0, +) == 1024 * (factor - 1))
        #expect(counts.max()! - counts.min()! <= 1)
        #expect(table.minimumCopies == factor)
    }

    @Test func aFactorAboveTheWorkersGivesEveryWorkerACopy() {
        let table = SlotPlanner.withReplicas(
            SlotPlanner.initial(workers: ["w1", "w2"], slotCount: 8), factor: 3, candidates: ["w1", "w2"])
        #expect(table.minimumCopies == 2)
        #expect(SlotPlanner.withReplicas(table, factor: 1, candidates: ["w1", "w2"]) == table)
    }

    @Test func aFailoverPromotesTheFirstReplicaAndTheLostWorkerHoldsNothing() {
        let names = ["w1", "w2", "w3"]
        let table = SlotPlanner.withReplicas(
            SlotPlanner.initial(workers: names, slotCount: 64, epoch: 5), factor: 2, candidates: names)
        let after = SlotPlanner.failingOver("w2", in: table)
        #expect(after.epoch == 6)
        #expect(!after.holders.contains("w2"))
        for slot in 0..<64 {
            if table.owners[slot] == "w2" {
                #expect(after.owners[slot] == table.replicas[slot][0])
                #expect(after.replicas[slot] == [])
            } else {
                #expect(after.owners[slot] == table.owners[slot])
                #expect(after.replicas[slot] == table.replicas[slot].filter { $0 != "w2" })
            }
        }
        // Without replicas nothing can take over: the table stays as it is.
        let single = SlotPlanner.initial(workers: names, slotCount: 64, epoch: 5)
        let unchanged = SlotPlanner.failingOver("w2", in: single)
        #expect(unchanged.owners == single.owners && unchanged.replicas == single.replicas)
    }

    @Test func repairsCopyTheMissingReplicasFromTheOwnersOneWorkerAtATime() throws {
        let names = ["w1", "w2", "w3"]
        var table = SlotPlanner.failingOver(
            "w2",
            in: SlotPlanner.withReplicas(
                SlotPlanner.initial(workers: names, slotCount: 64), factor: 2, candidates: names))
        var receivers: [String] = []
        while let plan = SlotMovePlan.repairing(table, factor: 2, candidates: ["w1", "w3"]) {
            #expect(plan.kind == .repair)
            #expect(plan.target.epoch == table.epoch + 1)
            for (source, slots) in plan.slotsBySource {
                for slot in slots {
                    #expect(table.owners[slot] == source)
                    #expect(table.replicas[slot] == [])
                    #expect(plan.target.replicas[slot] == [plan.worker])
                }
            }
            #expect(plan.target.owners == table.owners)
            receivers.append(plan.worker)
            table = plan.target
        }
        #expect(receivers == ["w1", "w3"])
        #expect(table.minimumCopies == 2)
        #expect(table.epoch == 4)
        #expect(SlotMovePlan.repairing(table, factor: 2, candidates: []) == nil)
    }

    /// Draining `worker` step by step: each repair copies slots from their owners to one receiver and changes nothing
    /// else; the drain's target holds no slot on `worker`, every holder of it already held its slot, and every slot
    /// ends with min(factor, workers left) copies. The steps taken, by kind and receiver.
    func drain(_ worker: String, of table: SlotTable, factor: Int, workers: [String]) -> (SlotTable, [String]) {
        var table = table
        var steps: [String] = []
        let others = Set(workers).subtracting([worker])
        while let plan = SlotMovePlan.draining(
            worker, from: table, factor: factor, candidates: others, sources: Set(workers))
        {
            #expect(plan.target.epoch == table.epoch + 1)
            steps.append("\(plan.kind.rawValue):\(plan.worker)")
            guard plan.kind == .repair else {
                #expect(plan.slotsBySource == [worker: table.slots(ownedBy: worker)])
                #expect(!plan.target.holders.contains(worker))
                for slot in 0..<table.slotCount {
                    #expect(Set(plan.target.holders(ofSlot: slot)).isSubset(of: table.holders(ofSlot: slot)))
                    #expect(plan.target.holders(ofSlot: slot).count == min(factor, others.count))
                    if table.owners[slot] != worker { #expect(plan.target.owners[slot] == table.owners[slot]) }
                }
                return (plan.target, steps)
            }
            #expect(plan.target.owners == table.owners)
            for (source, slots) in plan.slotsBySource {
                for slot in slots {
                    #expect(table.owners[slot] == source)
                    #expect(plan.target.replicas[slot] == table.replicas[slot] + [plan.worker])
                }
            }
            table = plan.target
        }
        Issue.record("the drain of \(worker) never switched over")
        return (table, steps)
    }

    @Test(arguments: [(3, 2), (3, 1), (4, 2), (4, 3), (2, 2), (2, 1)])
    func drainingAWorkerCopiesItsSlotsThenSwitchesToATableWithoutIt(workers: Int, factor: Int) {
        let names = (1...workers).map { "w\($0)" }
        let table = SlotPlanner.withReplicas(
            SlotPlanner.initial(workers: names, slotCount: 256), factor: factor, candidates: names)
        let (drained, steps) = drain("w2", of: table, factor: factor, workers: names)
        #expect(steps.last == "drain:w2")
        #expect(steps.dropLast().allSatisfy { $0.hasPrefix("repair:") && $0 != "repair:w2" })
        let counts = drained.slotCounts.values
        #expect(counts.reduce(0, +) == 256)
        #expect(counts.max()! - counts.min()! <= (256 + workers - 2) / (workers - 1))
    }

    @Test(arguments: [(3, 2), (4, 2), (3, 3), (5, 3)])
    func aWorkerAddedGetsItsShareOfReplicasThroughRepairsThenTrims(workers: Int, factor: Int) throws {
        let names = (1...workers).map { "w\($0)" }
        let joined = "w\(workers + 1)"
        var table = SlotPlanner.adding(
            joined,
            to: SlotPlanner.withReplicas(
                SlotPlanner.initial(workers: names, slotCount: 512), factor: factor, candidates: names))
        #expect(table.replicaCounts[joined] == nil)
        let everyone = names + [joined]
        var steps = 0
        while steps < 20 {
            let excess = SlotPlanner.excessReplicas(table, factor: factor)
            if !excess.isEmpty {
                for (worker, slots) in excess {
                    for slot in slots { table.replicas[slot].removeAll { $0 == worker } }
                }
            } else if let plan = SlotMovePlan.balancing(table, candidates: everyone) {
                #expect(plan.kind == .repair)
                #expect(plan.target.owners == table.owners)
                table = plan.target
            } else {
                break
            }
            steps += 1
        }
        #expect(steps < 20)
        let counts = everyone.map { table.replicaCounts[$0, default: 0] }
        #expect(counts.max()! - counts.min()! <= 1)
        for slot in 0..<512 {
            #expect(table.replicas[slot].count == factor - 1)
            #expect(Set(table.holders(ofSlot: slot)).count == factor)
        }
        #expect(SlotPlanner.excessReplicas(table, factor: factor).isEmpty)
        // Lowering the factor drops the replicas beyond it.
        let lowered = SlotPlanner.excessReplicas(table, factor: factor - 1)
        #expect(lowered.values.reduce(0) { $0 + $1.count } == 512)
    }

    @Test func aDrainWaitsWhileOnlyADownWorkerCouldGiveACopy() {
        let table = SlotPlanner.initial(workers: ["w1", "w2", "w3"], slotCount: 32)
        // Without replicas only w2 holds its slots: with w2 not a source, nothing can be planned.
        #expect(
            SlotMovePlan.draining("w2", from: table, factor: 1, candidates: ["w1", "w3"], sources: ["w1", "w3"]) == nil)
        let first = SlotMovePlan.draining(
            "w2", from: table, factor: 1, candidates: ["w1", "w3"], sources: ["w1", "w2"])
        #expect(first?.kind == .repair)
        #expect(first?.sources == ["w2"])
    }
}

@Suite struct FencingTests {
    let table = SlotTable(epoch: 4, owners: ["w1", "w2", "w1", "w2"])

    func subject(inSlot slot: Int) -> String {
        (0...).lazy.map { "customer-\($0)" }.first { SlotTable.slot(of: $0, slotCount: 4) == slot }!
    }

    @Test func acceptsOwnSlotsAtCurrentEpoch() {
        let state = FencingState(node: "w1", table: table)
        #expect(state.admit(epoch: 4, subjects: [subject(inSlot: 0), subject(inSlot: 2)]) == .accept)
        #expect(state.admit(epoch: 4, subjects: [String]()) == .accept)
    }

    @Test func refusesOtherEpochs() {
        let state = FencingState(node: "w1", table: table)
        #expect(state.admit(epoch: 3, subjects: [subject(inSlot: 0)]) == .staleEpoch(local: 4))
        #expect(state.admit(epoch: 5, subjects: [subject(inSlot: 0)]) == .staleEpoch(local: 4))
        #expect(FencingState(node: "w1", table: nil).admit(epoch: 1, subjects: ["a"]) == .staleEpoch(local: 0))
    }

    @Test func refusesForeignSlots() {
        let state = FencingState(node: "w1", table: table)
        #expect(
            state.admit(epoch: 4, subjects: [subject(inSlot: 0), subject(inSlot: 3), subject(inSlot: 1)])
                == .notOwner(slots: [1, 3]))
    }

    @Test func aReplicaTakesOnlyTheWritesOfTheSlotsItReplicates() {
        let replicated = SlotTable(epoch: 4, owners: table.owners, replicas: [["w2"], [], ["w2"], ["w1"]])
        let state = FencingState(node: "w2", table: replicated)
        #expect(state.admit(epoch: 4, subjects: [subject(inSlot: 0), subject(inSlot: 2)], role: .replica) == .accept)
        #expect(state.admit(epoch: 4, subjects: [subject(inSlot: 0)]) == .notOwner(slots: [0]))
        #expect(
            state.admit(epoch: 4, subjects: [subject(inSlot: 1), subject(inSlot: 3)], role: .replica)
                == .notOwner(slots: [1, 3]))
    }
}
