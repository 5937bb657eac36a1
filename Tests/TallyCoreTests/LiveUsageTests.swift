import TallyTestSupport
import Testing

@testable import TallyCore

/// Live usage added event by event gives exactly the value computed from the usage of every phase at once.
@Suite struct LiveUsageTests {
    let start = Timestamp(micros: 1_700_000_040 * 1_000_000 - 1_700_000_040 * 1_000_000 % 3_600_000_000)

    func minutes(_ count: Int64) -> Timestamp { Timestamp(micros: start.micros + count * 60_000_000) }

    @Test func addedUsageEqualsTheValueComputedFromScratch() throws {
        var random = SplitMix64(seed: 20_261_128)
        for _ in 0..<50 {
            let grants = (0..<Int.random(in: 1...3, using: &random)).map { index in
                Grant(
                    id: GrantID("g\(index)"), amount: Amount(Int.random(in: 10...200, using: &random)),
                    priority: Int.random(in: 0...2, using: &random),
                    effectiveAt: minutes(Int64.random(in: 0...600, using: &random)),
                    expiresAt: Bool.random(using: &random)
                        ? minutes(Int64.random(in: 700...1_500, using: &random)) : nil,
                    createdAt: start)
            }
            let balance = MeteredBalance(
                measureUsageFrom: start,
                usagePeriod: Recurrence(anchor: start, interval: try #require(CalendarInterval(parsing: "PT6H"))),
                grants: grants)
            let base = minutes(Int64.random(in: 1...900, using: &random))
            let loadedEvents = (0..<20).map { _ in
                (
                    minutes(Int64.random(in: 0..<base.micros / 60_000_000 - start.micros / 60_000_000, using: &random)),
                    Amount(Int.random(in: 0...30, using: &random))
                )
            }
            var loaded = PhaseUsages([:])
            for phase in try balance.phases(to: base) {
                loaded.amounts[phase] = loadedEvents.filter { phase.period.contains($0.0) }.reduce(.zero) {
                    $0.adding($1.1)!
                }
            }
            var live = try LiveUsage(balance: balance, base: base, usage: loaded)
            var all = loadedEvents
            for _ in 0..<30 {
                let time = minutes(Int64.random(in: 0...1_200, using: &random))
                let amount = Amount(Int.random(in: -5...30, using: &random))
                let added = live.add(amount, at: time)
                #expect(added)
                all.append((time, amount))
            }
            for offset in [Int64(0), 1, 7, 300] {
                let instant = Timestamp(micros: base.micros + offset * 60_000_000)
                var usage = PhaseUsages([:])
                for phase in try balance.phases(to: instant) {
                    usage.amounts[phase] = all.filter { phase.period.contains($0.0) }.reduce(.zero) {
                        $0.adding($1.1)!
                    }
                }
                #expect(try live.value(at: instant) == balance.value(at: instant, usage: usage))
            }
            #expect(try live.value(at: Timestamp(micros: base.micros - 60_000_000)) == nil)
        }
    }
}
