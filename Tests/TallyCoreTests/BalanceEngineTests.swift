import Foundation
import TallyTestSupport
import Testing

@testable import TallyCore

/// Usage from a list of events, summed per phase (a SUM meter), or the latest value since the period started.
private struct EventUsage: UsageSource {
    var events: [(time: Timestamp, value: Amount)]
    var latest = false

    func usage(in phase: UsagePhase) -> Amount {
        if latest {
            return events.last { $0.time >= phase.periodStart && $0.time < phase.period.to }?.value ?? .zero
        }
        return events.filter { phase.period.contains($0.time) }.reduce(Amount.zero) { $0.adding($1.value)! }
    }
}

private func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }
private func a(_ whole: Int) -> Amount { Amount(whole) }
private func g(_ id: String) -> GrantID { GrantID(id) }

@Suite struct BalanceEngineTests {
    let start = t("2026-03-01T00:00:00Z")
    var monthly: Recurrence { Recurrence(anchor: start, interval: .month) }

    func entitlement(
        grants: [Grant], resets: [ManualReset] = [], preserveOverage: Bool = false, soft: Bool = false
    ) -> MeteredBalance {
        MeteredBalance(
            measureUsageFrom: start, usagePeriod: monthly, preserveOverageAtReset: preserveOverage, isSoftLimit: soft,
            resets: resets, grants: grants)
    }

    func value(_ balance: MeteredBalance, at instant: String, _ events: [(String, Int)]) throws -> MeteredValue {
        try balance.value(at: t(instant), usage: EventUsage(events: events.map { (t($0.0), a($0.1)) }))
    }

    /// Adds a manual reset at `instant`, computed the way the API does.
    func reset(
        _ balance: MeteredBalance, at instant: String, preserveOverage: Bool = false, retainAnchor: Bool = false,
        _ events: [(String, Int)]
    ) throws -> MeteredBalance {
        let usage = EventUsage(events: events.map { (t($0.0), a($0.1)) })
        let snapshot = try balance.snapshotAfterReset(at: t(instant), preserveOverage: preserveOverage, usage: usage)
        var next = balance
        next.resets.append(
            ManualReset(
                at: t(instant), retainAnchor: retainAnchor, preserveOverage: preserveOverage, snapshot: snapshot))
        return next
    }

    @Test func burnsByPriorityThenExpiry() throws {
        let grants = [
            Grant(id: g("c"), amount: a(100), priority: 1, effectiveAt: start),
            Grant(id: g("b"), amount: a(100), priority: 1, effectiveAt: start, expiresAt: t("2026-05-01T00:00:00Z")),
            Grant(id: g("a"), amount: a(100), priority: 0, effectiveAt: start),
        ]
        let result = try value(entitlement(grants: grants), at: "2026-03-02T00:00:00Z", [("2026-03-01T10:00:00Z", 150)])
        #expect(result.grantBalances == [g("a"): a(0), g("b"): a(50), g("c"): a(100)])
        #expect(result.balance == a(150))
        #expect(result.usage == a(150))
        #expect(result.overage == a(0))
        #expect(result.totalAvailableGrantAmount == a(300))
        #expect(result.hasAccess)
    }

    @Test func rolloverKeepsClampedBalances() throws {
        // reset_test: g1 1000 p1 maxRollover 1000, g2 1000 p3 maxRollover 100, 600 usage → 400 + 100 = 500.
        let grants = [
            Grant(id: g("g1"), amount: a(1000), priority: 1, effectiveAt: start, maxRolloverAmount: a(1000)),
            Grant(id: g("g2"), amount: a(1000), priority: 3, effectiveAt: start, maxRolloverAmount: a(100)),
        ]
        let events = [("2026-03-01T01:00:00Z", 600)]
        let after = try reset(entitlement(grants: grants), at: "2026-03-02T00:00:00Z", events)
        let result = try value(after, at: "2026-03-02T00:00:00Z", events)
        #expect(result.balance == a(500))
        #expect(result.usage == a(0))
        #expect(result.overage == a(0))
    }

    @Test(arguments: [(2100, 400, 0), (2600, 0, 100)])
    func preservedOverageBurnsFromRolledOverBalances(used: Int, balance: Int, overage: Int) throws {
        // reset_test: g1 1000 p1 max 1000, g2 1000 p3 min = max = 500, preserveOverage.
        let grants = [
            Grant(id: g("g1"), amount: a(1000), priority: 1, effectiveAt: start, maxRolloverAmount: a(1000)),
            Grant(
                id: g("g2"), amount: a(1000), priority: 3, effectiveAt: start, minRolloverAmount: a(500),
                maxRolloverAmount: a(500)),
        ]
        let events = [("2026-03-01T01:00:00Z", used)]
        let after = try reset(entitlement(grants: grants), at: "2026-03-02T00:00:00Z", preserveOverage: true, events)
        let result = try value(after, at: "2026-03-02T00:00:00Z", events)
        #expect(result.balance == a(balance))
        #expect(result.overage == a(overage))
        #expect(result.usage == a(0))
    }

    @Test func usageBeforeAnyGrantIsDebtTheNextGrantPays() throws {
        // reset_test: 600 usage at +1m, grant of 1000 effective at +2h ends at 400.
        let grants = [Grant(id: g("g1"), amount: a(1000), priority: 1, effectiveAt: t("2026-03-01T02:00:00Z"))]
        let events = [("2026-03-01T00:01:00Z", 600)]
        let before = try value(entitlement(grants: grants), at: "2026-03-01T01:00:00Z", events)
        #expect(before.balance == a(0))
        #expect(before.overage == a(600))
        #expect(!before.hasAccess)
        let after = try value(entitlement(grants: grants), at: "2026-03-01T03:00:00Z", events)
        #expect(after.balance == a(400))
        #expect(after.overage == a(0))
        #expect(after.usage == a(600))
        #expect(after.totalAvailableGrantAmount == a(1000))
    }

    @Test func recurringGrantRefillsAndCountsEveryRefill() throws {
        // runresult_test: daily 100, usage 100 / 90 / 80 → 270 burnt; at the next refill 370 available in all.
        let grants = [
            Grant(
                id: g("daily"), amount: a(100), effectiveAt: start,
                recurrence: Recurrence(anchor: start, interval: .day))
        ]
        let events = [("2026-03-01T05:00:00Z", 100), ("2026-03-02T05:00:00Z", 90), ("2026-03-03T05:00:00Z", 80)]
        let endOfDay3 = try value(entitlement(grants: grants), at: "2026-03-03T23:59:00Z", events)
        #expect(endOfDay3.balance == a(20))
        #expect(endOfDay3.totalAvailableGrantAmount == a(290))
        let refill = try value(entitlement(grants: grants), at: "2026-03-04T00:00:00Z", events)
        #expect(refill.balance == a(100))
        #expect(refill.usage == a(270))
        #expect(refill.totalAvailableGrantAmount == a(370))
    }

    @Test func recurrenceIsNotReappliedAtALaterChange() throws {
        // #4252: a one-off grant effective later the same day must not refill the recurring one.
        let grants = [
            Grant(
                id: g("daily"), amount: a(100), effectiveAt: start,
                recurrence: Recurrence(anchor: start, interval: .day)),
            Grant(id: g("oneoff"), amount: a(50), priority: 5, effectiveAt: t("2026-03-01T12:00:00Z")),
        ]
        let events = [("2026-03-01T06:00:00Z", 70)]
        let result = try value(entitlement(grants: grants), at: "2026-03-01T18:00:00Z", events)
        #expect(result.grantBalances == [g("daily"): a(30), g("oneoff"): a(50)])
    }

    @Test func recurrenceAtAResetIsApplied() throws {
        // #4278: a daily grant, reset exactly at a recurrence instant: the balance is the whole amount.
        let grants = [
            Grant(
                id: g("daily"), amount: a(100), effectiveAt: start,
                recurrence: Recurrence(anchor: start, interval: .day))
        ]
        let events = [("2026-03-01T06:00:00Z", 70)]
        let after = try reset(entitlement(grants: grants), at: "2026-03-02T00:00:00Z", events)
        #expect(try value(after, at: "2026-03-02T00:00:00Z", events).balance == a(100))
        #expect(try value(after, at: "2026-03-02T10:00:00Z", events).balance == a(100))
    }

    @Test func grantEffectiveAtThePeriodStartCounts() throws {
        // #2955, and #1071: a grant effective exactly at a reset starts with its whole amount.
        let atStart = [Grant(id: g("g"), amount: a(100), effectiveAt: start)]
        #expect(try value(entitlement(grants: atStart), at: "2026-03-01T00:00:00Z", []).balance == a(100))
        let resetAt = "2026-03-05T00:00:00Z"
        var after = try reset(entitlement(grants: []), at: resetAt, [])
        after.grants = [Grant(id: g("late"), amount: a(100), effectiveAt: t(resetAt), createdAt: t(resetAt))]
        #expect(try value(after, at: resetAt, []).balance == a(100))
        #expect(try value(after, at: "2026-03-05T01:00:00Z", [("2026-03-05T00:10:00Z", 30)]).balance == a(70))
    }

    @Test func grantExpiringAtTheResetAbsorbsNoCarriedOverage() throws {
        // Notes §7 row 17: a grant inactive at the reset keeps nothing and pays nothing of the carried overage.
        let grants = [
            Grant(
                id: g("ends"), amount: a(100), priority: 0, effectiveAt: start,
                expiresAt: t("2026-03-02T00:00:00Z"), maxRolloverAmount: a(100)),
            Grant(
                id: g("stays"), amount: a(10), priority: 1, effectiveAt: start, minRolloverAmount: a(10),
                maxRolloverAmount: a(10)),
        ]
        let events = [("2026-03-01T01:00:00Z", 130)]
        let after = try reset(entitlement(grants: grants), at: "2026-03-02T00:00:00Z", preserveOverage: true, events)
        let result = try value(after, at: "2026-03-02T00:00:00Z", events)
        #expect(result.grantBalances == [g("stays"): a(0)])
        #expect(result.overage == a(10))
        #expect(result.totalAvailableGrantAmount == a(10))
    }

    @Test func backdatedResetIsReflected() throws {
        // #4845: a value asked before a backdated reset must not hide the reset.
        let grants = [Grant(id: g("g"), amount: a(100), effectiveAt: start, maxRolloverAmount: a(100))]
        let events = [("2026-03-01T01:00:00Z", 40), ("2026-03-03T01:00:00Z", 10)]
        let plain = entitlement(grants: grants)
        #expect(try value(plain, at: "2026-03-04T00:00:00Z", events).balance == a(50))
        let after = try reset(plain, at: "2026-03-02T00:00:00Z", events)
        let result = try value(after, at: "2026-03-04T00:00:00Z", events)
        #expect(result.balance == a(50))
        #expect(result.usage == a(10))
        #expect(result.totalAvailableGrantAmount == a(60))
        #expect(
            after.periods.period(at: t("2026-03-04T00:00:00Z"))
                == TimePeriod(from: t("2026-03-02T00:00:00Z"), to: t("2026-04-02T00:00:00Z")))
    }

    @Test func retainedAnchorKeepsTheGrid() throws {
        let after = try reset(entitlement(grants: []), at: "2026-03-10T00:00:00Z", retainAnchor: true, [])
        #expect(
            after.periods.period(at: t("2026-03-12T00:00:00Z"))
                == TimePeriod(from: t("2026-03-10T00:00:00Z"), to: t("2026-04-01T00:00:00Z")))
        #expect(
            after.periods.period(at: t("2026-04-12T00:00:00Z"))
                == TimePeriod(from: t("2026-04-01T00:00:00Z"), to: t("2026-05-01T00:00:00Z")))
    }

    @Test func automaticResetForfeitsAV1GrantByDefault() throws {
        // v1's maxRolloverAmount defaults to 0: the monthly boundary forfeits the balance; v2's (= amount) keeps it.
        let v1 = Grant(id: g("v1"), amount: a(100), effectiveAt: start, expiresAt: t("2027-03-01T00:00:00Z"))
        var v2 = v1
        v2.id = g("v2")
        v2.maxRolloverAmount = a(100)
        let events = [("2026-03-05T00:00:00Z", 30)]
        let result = try value(entitlement(grants: [v1, v2]), at: "2026-04-01T00:00:00Z", events)
        #expect(result.grantBalances == [g("v1"): a(0), g("v2"): a(100)])
        #expect(result.usage == a(0))
    }

    @Test func accessIsStrictlyPositiveUnlessSoft() throws {
        let grants = [Grant(id: g("g"), amount: a(100), effectiveAt: start)]
        let events = [("2026-03-01T01:00:00Z", 100)]
        #expect(try !value(entitlement(grants: grants), at: "2026-03-02T00:00:00Z", events).hasAccess)
        #expect(try value(entitlement(grants: grants, soft: true), at: "2026-03-02T00:00:00Z", events).hasAccess)
        #expect(try !value(entitlement(grants: []), at: "2026-03-02T00:00:00Z", []).hasAccess)
    }

    @Test func voidedGrantStopsBurningButKeepsWhatItPaid() throws {
        // Spec example: grant 100, 60 used → balance 40; voided → balance 0, the 60 stays attributed.
        var grant = Grant(id: g("g"), amount: a(100), effectiveAt: start)
        let events = [("2026-03-01T01:00:00Z", 60)]
        #expect(try value(entitlement(grants: [grant]), at: "2026-03-02T00:00:00Z", events).balance == a(40))
        grant.voidedAt = t("2026-03-01T12:00:00Z")
        let result = try value(entitlement(grants: [grant]), at: "2026-03-02T00:00:00Z", events)
        #expect(result.balance == a(0))
        #expect(result.totalAvailableGrantAmount == a(60))
        #expect(result.usage == a(60))
    }

    @Test func issueAfterResetGrantComesBackWhole() throws {
        // §4.8: priority 1, no expiry, min = max = X: back to X after every reset, before preserved overage burns.
        let grants = [
            Grant(
                id: g("default"), amount: a(100), priority: 1, effectiveAt: start, minRolloverAmount: a(100),
                maxRolloverAmount: a(100))
        ]
        let events = [("2026-03-10T00:00:00Z", 130)]
        let balance = entitlement(grants: grants, preserveOverage: true)
        let result = try value(balance, at: "2026-04-02T00:00:00Z", events)
        #expect(result.balance == a(70))
        #expect(result.overage == a(0))
        #expect(result.totalAvailableGrantAmount == a(100))
    }

    @Test func latestMeterTreatsGrantsAsLimits() throws {
        // e2e: grant 1000, latest value 150 → balance 850, usage 150.
        var balance = entitlement(grants: [Grant(id: g("g"), amount: a(1000), effectiveAt: start)])
        balance.grantsAreLimits = true
        let usage = EventUsage(
            events: [(t("2026-03-01T01:00:00Z"), a(300)), (t("2026-03-01T02:00:00Z"), a(150))], latest: true)
        let result = try balance.value(at: t("2026-03-02T00:00:00Z"), usage: usage)
        #expect(result.balance == a(850))
        #expect(result.usage == a(150))
    }

    @Test func farFutureWithShortRecurrenceIsRefused() throws {
        let grants = [
            Grant(
                id: g("hourly"), amount: a(1), effectiveAt: start,
                recurrence: Recurrence(anchor: start, interval: CalendarInterval(parsing: "PT1H")!))
        ]
        #expect(throws: BalanceError.tooManyPhases(limit: BalanceEngine.maxPhasesPerCalculation)) {
            try value(entitlement(grants: grants), at: "2040-01-01T00:00:00Z", [])
        }
    }

    @Test func historyWindowsAndBurndown() throws {
        let grants = [
            Grant(id: g("g1"), amount: a(100), priority: 0, effectiveAt: start),
            Grant(id: g("g2"), amount: a(50), priority: 1, effectiveAt: t("2026-03-01T02:00:00Z")),
        ]
        let usage = EventUsage(events: [(t("2026-03-01T01:30:00Z"), a(10)), (t("2026-03-01T03:10:00Z"), a(20))])
        let windows = (0..<4).map { hour in
            TimePeriod(
                from: Timestamp(micros: start.micros + Int64(hour) * 3_600_000_000),
                to: Timestamp(micros: start.micros + Int64(hour + 1) * 3_600_000_000))
        }
        let history = try entitlement(grants: grants).history(
            from: start, to: t("2026-03-01T04:00:00Z"), windows: windows, usage: usage)
        #expect(history.windows.map { "\($0.usage)/\($0.balanceAtStart)" } == ["0/100", "10/100", "0/140", "20/140"])
        #expect(
            history.burndown.map { "\($0.period.from)-\($0.period.to)" } == [
                "2026-03-01T00:00:00Z-2026-03-01T02:00:00Z", "2026-03-01T02:00:00Z-2026-03-01T04:00:00Z",
            ])
        #expect(history.burndown.map(\.usage) == [a(10), a(20)])
        #expect(history.burndown.map(\.balanceAtEnd) == [a(90), a(120)])
        #expect(history.burndown[1].grantUsages == [g("g1"): a(20)])
        #expect(history.burndown[1].grantBalancesAtStart == [g("g1"): a(90), g("g2"): a(50)])
    }

    @Test func historyCrossesAStoredResetWithoutRecomputingIt() throws {
        let grants = [Grant(id: g("g"), amount: a(100), effectiveAt: start, maxRolloverAmount: a(100))]
        let events = [("2026-03-01T01:00:00Z", 40)]
        let after = try reset(entitlement(grants: grants), at: "2026-03-02T00:00:00Z", events)
        let late = EventUsage(events: [(t("2026-03-01T01:00:00Z"), a(40)), (t("2026-03-01T05:00:00Z"), a(500))])
        let day = TimePeriod(from: start, to: t("2026-03-02T00:00:00Z"))
        let next = TimePeriod(from: t("2026-03-02T00:00:00Z"), to: t("2026-03-03T00:00:00Z"))
        let history = try after.history(from: start, to: t("2026-03-03T00:00:00Z"), windows: [day, next], usage: late)
        #expect(history.windows.map(\.balanceAtStart) == [a(100), a(60)])
        #expect(history.windows.map(\.usage) == [a(540), a(0)])
        #expect(history.burndown.map { $0.period.from == $0.period.to } == [false, true, false])
        #expect(history.burndown[1].balanceAtEnd == a(60))
    }

    @Test func snapshotsEncodeTheSameBytesEverywhere() throws {
        let snapshot = BalanceSnapshot(at: start, balances: [g("b"): a(2), g("a"): a(1), g("c"): a(3)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(snapshot), as: UTF8.self)
        #expect(text.contains(#""balances":{"a":{"units":"1000000000"}"#) || text.contains(#""balances":{"a":"#))
        #expect(try JSONDecoder().decode(BalanceSnapshot.self, from: Data(text.utf8)) == snapshot)
        #expect(text == String(decoding: try encoder.encode(snapshot), as: UTF8.self))
    }

    @Test func incrementalRunsEqualOneRunAndKeepTheInvariant() throws {
        var generator = SplitMix64(seed: 20_261_128)
        for _ in 0..<200 {
            var grants: [Grant] = []
            for index in 0..<Int.random(in: 1...4, using: &generator) {
                let effective = Timestamp(
                    micros: start.micros + Int64.random(in: 0..<60, using: &generator) * 86_400_000_000)
                var grant = Grant(
                    id: g("g\(index)"), amount: a(Int.random(in: 1...500, using: &generator)),
                    priority: Int.random(in: 0...3, using: &generator), effectiveAt: effective,
                    maxRolloverAmount: a(Int.random(in: 0...300, using: &generator)))
                if Bool.random(using: &generator) {
                    grant.expiresAt = Timestamp(micros: effective.micros + 20 * 86_400_000_000)
                }
                if Int.random(in: 0..<4, using: &generator) == 0 {
                    grant.recurrence = Recurrence(anchor: effective, interval: .week)
                }
                grants.append(grant)
            }
            let events = (0..<40).map { _ in
                (
                    time: Timestamp(
                        micros: start.micros + Int64.random(in: 0..<(90 * 1_440), using: &generator) * 60_000_000),
                    value: a(Int.random(in: 0...40, using: &generator))
                )
            }
            let usage = EventUsage(events: events)
            let balance = entitlement(grants: grants)
            let end = t("2026-05-20T00:00:00Z")
            let whole = try balance.value(at: end, usage: usage)
            #expect(
                whole.totalAvailableGrantAmount.units == whole.balance.units + whole.usage.units - whole.overage.units)
            let middle = Timestamp(
                micros: start.micros + Int64.random(in: 1..<(80 * 1_440), using: &generator) * 60_000_000)
            let (first, resets) = try balance.calculation(to: end)
            let engine = balance.engine
            let half = try engine.run(from: first, to: middle, resets: resets, usage: usage).snapshot
            let rest = try engine.run(from: half, to: end, resets: resets, usage: usage).snapshot
            #expect(
                rest.balances == (try engine.run(from: first, to: end, resets: resets, usage: usage)).snapshot.balances)
            #expect(rest.balance == whole.balance)
            #expect(rest.usage == whole.usage)
            #expect(rest.overage == whole.overage)
        }
    }
}

@Suite struct CalendarIntervalTests {
    @Test(arguments: [
        ("MONTH", "MONTH", "P1M"), ("P1M", "MONTH", "P1M"), ("P2W", "P2W", "P2W"), ("PT6H", "PT6H", "PT6H"),
        ("P1Y2M", "P1Y2M", "P1Y2M"), ("P1DT12H", "P1DT12H", "P1DT12H"), ("P7D", "WEEK", "P1W"), ("DAY", "DAY", "P1D"),
    ])
    func parsesAndRenders(input: String, keyword: String, iso: String) throws {
        let interval = try #require(CalendarInterval(parsing: input))
        #expect(interval.keyword == keyword)
        #expect(interval.description == iso)
    }

    @Test(arguments: [
        "", "P", "PT30M", "1M", "P1.5M", "PT", "P1H", "MINUTE", "P101Y", "P9999999D", "P300000Y",
        String(repeating: "P999999W", count: 16), "PT" + String(repeating: "999999H", count: 2_563),
        "P" + String(repeating: "999999D", count: 5_000),
    ])
    func refuses(input: String) {
        #expect(CalendarInterval(parsing: input) == nil)
    }

    @Test func monthlyGridClampsToTheMonthEnd() {
        let grid = Recurrence(anchor: t("2026-01-31T10:00:00Z"), interval: .month)
        #expect(
            (1...4).map { grid.time($0)!.description } == [
                "2026-02-28T10:00:00Z", "2026-03-31T10:00:00Z", "2026-04-30T10:00:00Z", "2026-05-31T10:00:00Z",
            ])
        #expect(grid.time(-2)!.description == "2025-11-30T10:00:00Z")
        #expect(
            grid.period(containing: t("2026-03-31T09:59:00Z"))
                == TimePeriod(from: t("2026-02-28T10:00:00Z"), to: t("2026-03-31T10:00:00Z")))
    }

    @Test func firstPeriodStartsAtMeasureUsageFrom() {
        let periods = UsagePeriods(
            measureUsageFrom: t("2026-01-15T10:00:00Z"),
            usagePeriod: Recurrence(anchor: t("2026-01-01T00:00:00Z"), interval: .month), manualResets: [])
        #expect(
            periods.period(at: t("2026-01-20T00:00:00Z"))
                == TimePeriod(from: t("2026-01-15T10:00:00Z"), to: t("2026-02-01T00:00:00Z")))
        #expect(
            periods.period(at: t("2026-02-01T00:00:00Z"))
                == TimePeriod(from: t("2026-02-01T00:00:00Z"), to: t("2026-03-01T00:00:00Z")))
        #expect(
            periods.boundaries(after: t("2026-01-15T10:00:00Z"), through: t("2026-03-01T00:00:00Z"), limit: 10)
                == [t("2026-02-01T00:00:00Z"), t("2026-03-01T00:00:00Z")])
    }

    @Test(arguments: [
        ("2026-01-31T00:00:00Z", GrantExpiration.Unit.month, 1, "2026-03-03T00:00:00Z"),
        ("2028-01-31T00:00:00Z", .month, 1, "2028-03-02T00:00:00Z"),
        ("2026-03-10T12:00:00Z", .year, 1, "2027-03-10T12:00:00Z"),
        ("2028-02-29T00:00:00Z", .year, 1, "2029-03-01T00:00:00Z"),
        ("2026-03-10T12:00:00Z", .week, 2, "2026-03-24T12:00:00Z"),
        ("2026-03-10T12:00:00Z", .hour, 36, "2026-03-12T00:00:00Z"),
    ])
    func expiryOverflowsLikeAddDate(from: String, unit: GrantExpiration.Unit, count: Int, expected: String) {
        #expect(GrantExpiration(unit: unit, count: count).expiry(from: t(from))?.description == expected)
    }
}
