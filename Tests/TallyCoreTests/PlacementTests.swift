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
}
