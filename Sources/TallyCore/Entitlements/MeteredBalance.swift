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

    /// Where a calculation up to `instant` starts (the last manual reset at or before it, else the start of
    /// metering) and the automatic resets it crosses.
    public func calculation(
        to instant: Timestamp
    ) throws(BalanceError) -> (
        start: BalanceSnapshot, resets: [ResetPoint]
    ) {
        guard instant >= measureUsageFrom else { return (BalanceSnapshot.starting(at: instant, grants: grants), []) }
        let start =
            resets.last { $0.at <= instant }?.snapshot ?? BalanceSnapshot.starting(at: measureUsageFrom, grants: grants)
        let limit = BalanceEngine.maxPhasesPerCalculation
        guard let boundaries = periods.boundaries(after: start.at, through: instant, limit: limit) else {
            throw .tooManyPhases(limit: limit)
        }
        return (start, boundaries.map { ResetPoint(at: $0, preserveOverage: preserveOverageAtReset) })
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

    /// The phases `snapshotAfterReset(at:)` reads.
    public func resetPhases(at instant: Timestamp) throws(BalanceError) -> [UsagePhase] {
        let (start, automatic) = try calculation(to: instant)
        let resets = automatic.filter { $0.at < instant } + [ResetPoint(at: instant, preserveOverage: false)]
        return try engine.phases(from: start.at, to: instant, resets: resets)
    }
}
