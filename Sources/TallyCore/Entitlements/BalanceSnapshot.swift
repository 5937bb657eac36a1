/// The state of a metered entitlement's grants at one instant: what the engine starts from and what a reset persists.
public struct BalanceSnapshot: Sendable, Hashable, Codable {
    public var at: Timestamp
    /// Remaining balance of each grant that has one.
    public var balances: [GrantID: Amount]
    /// Usage not covered by grants in the current period, carried overage included.
    public var overage: Amount
    /// Usage since the current period started.
    public var usage: Amount
    /// Usage burnt from grants since the current period started (refills of recurring grants counted again).
    public var totalGrantUsage: Amount

    public init(
        at: Timestamp, balances: [GrantID: Amount], overage: Amount = .zero, usage: Amount = .zero,
        totalGrantUsage: Amount = .zero
    ) {
        self.at = at
        self.balances = balances
        self.overage = overage
        self.usage = usage
        self.totalGrantUsage = totalGrantUsage
    }

    /// The state at the start of metering: every grant active at `instant` holds its whole amount.
    public static func starting(at instant: Timestamp, grants: [Grant]) -> BalanceSnapshot {
        var balances: [GrantID: Amount] = [:]
        for grant in grants where grant.isActive(at: instant) { balances[grant.id] = grant.amount }
        return BalanceSnapshot(at: instant, balances: balances)
    }

    /// The sum of the balances (never negative: grants only burn what they hold).
    public var balance: Amount { balances.values.reduce(Amount.zero) { Amount(units: $0.units + $1.units) } }
}

/// A reset of the usage period at `at` (automatic at a period boundary, or manual), and whether the overage of the
/// ending period is carried into the next. A manual reset already stored carries its `state`, which a calculation
/// crossing it adopts instead of computing the rollover again.
public struct ResetPoint: Sendable, Hashable {
    public var at: Timestamp
    public var preserveOverage: Bool
    public var state: BalanceSnapshot?

    public init(at: Timestamp, preserveOverage: Bool, state: BalanceSnapshot? = nil) {
        self.at = at
        self.preserveOverage = preserveOverage
        self.state = state
    }
}

/// One stretch of the burn-down where the burn order did not change, as the history endpoint reports it. A reset
/// adds a zero-length segment (`from == to`) whose balances show the rollover.
public struct BurndownSegment: Sendable, Hashable {
    public var period: TimePeriod
    public var usage: Amount
    public var overage: Amount
    public var balanceAtStart: Amount
    public var balanceAtEnd: Amount
    public var grantBalancesAtStart: [GrantID: Amount]
    public var grantBalancesAtEnd: [GrantID: Amount]
    public var grantUsages: [GrantID: Amount]
}
