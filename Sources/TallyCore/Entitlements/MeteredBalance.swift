/// A manual reset as persisted: when, how the next periods are anchored, whether overage was carried, and the
/// state right after it (later calculations start there, so late events before a reset never change it).
public struct ManualReset: Sendable, Hashable, Codable {
    public var at: Timestamp
    public var retainAnchor: Bool
    public var preserveOverage: Bool
    public var snapshot: BalanceSnapshot

    public init(at: Timestamp, retainAnchor: Bool, preserveOverage: Bool, snapshot: BalanceSnapshot) {
        self.at = at
        self.retainAnchor = retainAnchor
        self.preserveOverage = preserveOverage
        self.snapshot = snapshot
    }
}

/// What OpenMeter's value endpoint answers for a metered entitlement.
public struct MeteredValue: Sendable, Hashable {
    public var hasAccess: Bool
    public var balance: Amount
    public var usage: Amount
    public var overage: Amount
    public var totalAvailableGrantAmount: Amount
    public var grantBalances: [GrantID: Amount]
}

/// Everything a metered entitlement's balance depends on besides usage, and the calculations over it.
public struct MeteredBalance: Sendable, Hashable {
    public var measureUsageFrom: Timestamp
    public var usagePeriod: Recurrence
    public var preserveOverageAtReset: Bool
    public var isSoftLimit: Bool
    /// Sorted by `at`.
    public var resets: [ManualReset]
    public var grants: [Grant]
    /// LATEST meters: grants are limits on the latest value.
    public var grantsAreLimits: Bool

    public init(
        measureUsageFrom: Timestamp, usagePeriod: Recurrence, preserveOverageAtReset: Bool = false,
        isSoftLimit: Bool = false, resets: [ManualReset] = [], grants: [Grant] = [], grantsAreLimits: Bool = false
    ) {
        self.measureUsageFrom = measureUsageFrom
        self.usagePeriod = usagePeriod
        self.preserveOverageAtReset = preserveOverageAtReset
        self.isSoftLimit = isSoftLimit
        self.resets = resets.sorted { $0.at < $1.at }
        self.grants = grants
        self.grantsAreLimits = grantsAreLimits
    }

    public var periods: UsagePeriods {
        UsagePeriods(
            measureUsageFrom: measureUsageFrom, usagePeriod: usagePeriod,
            manualResets: resets.map { ($0.at, $0.retainAnchor) })
    }

    /// Where a calculation up to `instant` starts (the last manual reset at or before `from`, default `instant`,
    /// else the start of metering) and the resets it crosses: automatic ones, and stored manual ones after `from`.
    public func calculation(
        from: Timestamp? = nil, to instant: Timestamp
    ) throws(BalanceError) -> (
        start: BalanceSnapshot, resets: [ResetPoint]
    ) {
        guard instant >= measureUsageFrom else { return (BalanceSnapshot.starting(at: instant, grants: grants), []) }
        let from = min(from ?? instant, instant)
        let start =
            resets.last { $0.at <= from }?.snapshot ?? BalanceSnapshot.starting(at: measureUsageFrom, grants: grants)
        let limit = BalanceEngine.maxPhasesPerCalculation
        guard let boundaries = periods.boundaries(after: start.at, through: instant, limit: limit) else {
            throw .tooManyPhases(limit: limit)
        }
        let automatic = boundaries.map { ResetPoint(at: $0, preserveOverage: preserveOverageAtReset) }
        let manual = resets.filter { $0.at > start.at && $0.at <= instant }.map {
            ResetPoint(at: $0.at, preserveOverage: $0.preserveOverage, state: $0.snapshot)
        }
        return (start, (automatic + manual).sorted { $0.at < $1.at })
    }

    public var engine: BalanceEngine { BalanceEngine(grants: grants, grantsAreLimits: grantsAreLimits) }

    /// The usage a value at `instant` needs, phase by phase.
    public func phases(to instant: Timestamp) throws(BalanceError) -> [UsagePhase] {
        let (start, resets) = try calculation(to: instant)
        return try engine.phases(from: start.at, to: max(instant, start.at), resets: resets)
    }

    /// The value at `instant` (a whole minute: the API ceils the requested time).
    public func value(at instant: Timestamp, usage: some UsageSource) throws(BalanceError) -> MeteredValue {
        let (start, resets) = try calculation(to: instant)
        let state = try engine.run(from: start, to: max(instant, start.at), resets: resets, usage: usage).snapshot
        let balance = state.balance
        guard let total = state.totalGrantUsage.adding(balance) else { throw .overflow }
        return MeteredValue(
            hasAccess: isSoftLimit || balance > .zero, balance: balance, usage: state.usage, overage: state.overage,
            totalAvailableGrantAmount: total, grantBalances: state.balances)
    }

    /// The state right after a manual reset at `instant` that carries the overage when `preserveOverage`.
    public func snapshotAfterReset(
        at instant: Timestamp, preserveOverage: Bool, usage: some UsageSource
    )
        throws(BalanceError) -> BalanceSnapshot
    {
        let (start, automatic) = try calculation(to: instant)
        let resets = automatic.filter { $0.at < instant } + [ResetPoint(at: instant, preserveOverage: preserveOverage)]
        return try engine.run(from: start, to: instant, resets: resets, usage: usage).snapshot
    }

    /// The usage a history over `[from, to)` in `windows` needs, phase by phase.
    public func historyPhases(
        from: Timestamp, to: Timestamp, windows: [TimePeriod]
    ) throws(BalanceError)
        -> [UsagePhase]
    {
        let (start, resets) = try calculation(from: from, to: to)
        return try engine.phases(from: start.at, to: to, resets: resets, extraCuts: [from] + windows.map(\.from))
    }

    /// The balance history over `[from, to)`: each window's usage and balance at its start, and the burn-down
    /// segments (split where the burn order changes, a grant recurs or a reset happens; a reset adds a zero-length
    /// segment showing the rollover). One run cut at every window start gives both: a cut where nothing changes
    /// splits a phase without changing what it burns, and the burn-down joins those pieces again.
    public func history(
        from: Timestamp, to: Timestamp, windows: [TimePeriod], usage: some UsageSource
    )
        throws(BalanceError) -> BalanceHistory
    {
        let (start, resets) = try calculation(from: from, to: to)
        var engine = self.engine
        engine.recordsSegments = true
        let natural = Set(try engine.phases(from: start.at, to: to, resets: resets).map(\.period.from))
        let cuts = [from] + windows.map(\.from)
        let run = try engine.run(from: start, to: to, resets: resets, usage: usage, extraCuts: cuts)
        var windowed: [BalanceHistory.Window] = []
        for window in windows {
            let inside = run.segments.filter { window.contains($0.period.from) && $0.period.to > $0.period.from }
            var used = Amount.zero
            for segment in inside {
                guard let sum = used.adding(segment.usage) else { throw .overflow }
                used = sum
            }
            let balance = inside.first?.balanceAtStart ?? run.snapshot.balance
            windowed.append(BalanceHistory.Window(period: window, usage: used, balanceAtStart: balance))
        }
        var burndown: [BurndownSegment] = []
        for segment in run.segments where segment.period.from >= from {
            if var last = burndown.last, segment.period.from == last.period.to, last.period.to > last.period.from,
                segment.period.to > segment.period.from, !natural.contains(segment.period.from)
            {
                guard let used = last.usage.adding(segment.usage) else { throw .overflow }
                last.period.to = segment.period.to
                last.usage = used
                last.overage = segment.overage
                last.balanceAtEnd = segment.balanceAtEnd
                last.grantBalancesAtEnd = segment.grantBalancesAtEnd
                for (grant, amount) in segment.grantUsages {
                    guard let total = (last.grantUsages[grant] ?? .zero).adding(amount) else { throw .overflow }
                    last.grantUsages[grant] = total
                }
                burndown[burndown.count - 1] = last
            } else {
                burndown.append(segment)
            }
        }
        return BalanceHistory(windows: windowed, burndown: burndown)
    }

    /// The phases `snapshotAfterReset(at:)` reads.
    public func resetPhases(at instant: Timestamp) throws(BalanceError) -> [UsagePhase] {
        let (start, automatic) = try calculation(to: instant)
        let resets = automatic.filter { $0.at < instant } + [ResetPoint(at: instant, preserveOverage: false)]
        return try engine.phases(from: start.at, to: instant, resets: resets)
    }
}

/// What the history endpoint answers: windows and burn-down segments.
public struct BalanceHistory: Sendable, Hashable {
    /// One window of the requested size: its usage and the balance at its start.
    public struct Window: Sendable, Hashable {
        public var period: TimePeriod
        public var usage: Amount
        public var balanceAtStart: Amount
    }

    public var windows: [Window]
    public var burndown: [BurndownSegment]
}
