import TallyCore
import Testing

@testable import TallyStore

/// The ledger's decisions without I/O: the boundary rule, batches judged against the open transaction's changes,
/// changes kept only when their transaction commits, and plans of an older generation sent back.
@Suite struct EnforcementLedgerTests {
    let start = Timestamp(micros: 1_764_000_000_000_000 - 1_764_000_000_000_000 % 3_600_000_000)
    var base: Timestamp { Timestamp(micros: start.micros + 3_600_000_000) }

    /// A ledger holding entitlement `e` with one grant of 10 from `start` and no usage, loaded at `base`.
    func ledger() throws -> EnforcementLedger {
        var ledger = EnforcementLedger()
        let balance = MeteredBalance(
            measureUsageFrom: start,
            usagePeriod: Recurrence(anchor: start, interval: try #require(CalendarInterval(parsing: "P1M"))),
            grants: [Grant(id: GrantID("g"), amount: Amount(10), effectiveAt: start)])
        guard case .load = ledger.beginLoad("e", planned: ledger.generation) else {
            Issue.record("a first load must load")
            return ledger
        }
        ledger.endLoad(
            "e", usage: try LiveUsage(balance: balance, base: base, usage: PhaseUsages([:])),
            planned: ledger.generation)
        return ledger
    }

    func use(_ index: Int, _ amount: Int, judged: Bool = true) -> EnforcedUse {
        EnforcedUse(
            eventIndex: index, entitlementID: "e", customer: "acme", featureKey: "tokens", amount: Amount(amount),
            time: base, judged: judged, aheadOfClock: false)
    }

    func refused(_ ledger: inout EnforcementLedger, _ uses: [EnforcedUse]) -> [Int]? {
        do {
            try ledger.judge(EnforcementPlan(generation: ledger.generation, uses: uses))
            return []
        } catch let refusal as EnforcementRefusal {
            return refusal.refused.map(\.eventIndex)
        } catch {
            return nil
        }
    }

    @Test func theEventThatCrossesZeroIsAdmittedAndTheNextRefused() throws {
        var ledger = try ledger()
        #expect(refused(&ledger, [use(0, 6), use(1, 6)]) == [])
        #expect(refused(&ledger, [use(0, 6), use(1, 6), use(2, 1), use(3, 0)]) == [2, 3])
        // Uses that are only counted (outside the entitlement's active time) are never refused.
        #expect(refused(&ledger, [use(0, 10), use(1, 5, judged: false)]) == [])
    }

    @Test func usageCountsOnlyOnceItsTransactionCommits() throws {
        var ledger = try ledger()
        ledger.record([use(0, 10)])
        // A later batch of the same transaction sees the recorded usage.
        #expect(refused(&ledger, [use(0, 1)]) == [0])
        ledger.dropPending()
        #expect(refused(&ledger, [use(0, 9)]) == [])
        ledger.record([use(0, 9)])
        ledger.commitPending()
        #expect(refused(&ledger, [use(0, 1)]) == [])
        ledger.record([use(0, 1)])
        ledger.commitPending()
        #expect(refused(&ledger, [use(0, 1)]) == [0])
    }

    @Test func aClearSendsOlderPlansAndLoadsBack() throws {
        var ledger = try ledger()
        let planned = ledger.generation
        ledger.clear()
        #expect(refused(&ledger, [use(0, 1)]) == nil)
        guard case .stale = ledger.beginLoad("e", planned: planned) else {
            Issue.record("a load for an older plan must be stale")
            return
        }
        guard case .load = ledger.beginLoad("e", planned: ledger.generation) else {
            Issue.record("a cleared entitlement must load again")
            return
        }
        guard case .wait = ledger.beginLoad("e", planned: ledger.generation) else {
            Issue.record("a second loader must wait for the first")
            return
        }
    }
}
