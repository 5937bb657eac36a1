import TallyCluster
import TallyCore
import Testing

/// A move's pace and time left, as `GET /api/v1/cluster` and `tally cluster add-worker` show them.
@Suite struct SlotMoveTests {
    static func move(
        phase: SlotMove.Phase, copied: [String: (through: Int64, position: Int64, events: Int64)]
    )
        -> SlotMove
    {
        let plan = SlotMovePlan.adding("w3", to: SlotPlanner.initial(workers: ["w1", "w2"]))
        var progress: [String: SlotMove.Progress] = [:]
        for (source, copy) in copied {
            var entry = SlotMove.Progress()
            entry.copiedThrough = copy.through
            entry.sourcePosition = copy.position
            entry.events = copy.events
            entry.bytes = copy.events * 300
            progress[source] = entry
        }
        return SlotMove(
            id: "m", url: "https://127.0.0.1:1", plan: plan, phase: phase, progress: progress,
            startedAt: Timestamp(micros: 1_000_000_000))
    }

    @Test func paceAndTimeLeftComeFromTheShareCopiedSoFar() {
        let move = Self.move(
            phase: .copying, copied: ["w1": (through: 300, position: 1000, events: 150), "w2": (100, 1000, 50)])
        let now = Timestamp(micros: 1_000_000_000 + 20_000_000)
        let pace = move.pace(at: now)
        #expect(move.fractionCopied == 0.2)
        #expect(pace.bytesPerSecond == 3000)
        #expect(pace.eventsPerSecond == 10)
        #expect(pace.etaSeconds == 80)
        let json = move.json(at: now)
        #expect(json["bytesPerSecond"] == .number("3000"))
        #expect(json["eventsPerSecond"] == .number("10"))
        #expect(json["etaSeconds"] == .number("80"))
        #expect(json["progress"] == .number("0.2"))
    }

    @Test func thereIsNoTimeLeftBeforeTheFirstPullOrAfterTheCopy() {
        let now = Timestamp(micros: 1_000_000_000 + 5_000_000)
        #expect(Self.move(phase: .copying, copied: [:]).pace(at: now).etaSeconds == nil)
        #expect(Self.move(phase: .copying, copied: [:]).json(at: now)["etaSeconds"] == .null)
        let switching = Self.move(phase: .switching, copied: ["w1": (through: 900, position: 1000, events: 900)])
        #expect(switching.pace(at: now).etaSeconds == nil)
        #expect(switching.pace(at: now).eventsPerSecond == 180)
        #expect(Self.move(phase: .copying, copied: [:]).pace(at: Timestamp(micros: 0)).bytesPerSecond == 0)
    }
}
