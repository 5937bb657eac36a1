import TallyCore

/// One event of a batch counting toward an entitlement whose feature rejects usage without access.
public struct EnforcedUse: Sendable, Hashable {
    /// The event's index in its batch.
    public var eventIndex: Int
    public var entitlementID: String
    /// The owner key of the entitlement (the customer).
    public var customer: String
    public var featureKey: String
    /// What the event adds to the meter (its value for SUM, 1 for COUNT).
    public var amount: Amount
    public var time: Timestamp
    /// Whether the event is judged: the entitlement is active at its time. Usage the store counts outside that time
    /// (after `measureUsageFrom`, before the entitlement was created) is only added to the live usage.
    public var judged: Bool
    /// Dated further ahead of the node's clock than `ShardStore.maxEnforcedLeadMinutes`: refused.
    public var aheadOfClock: Bool

    public init(
        eventIndex: Int, entitlementID: String, customer: String, featureKey: String, amount: Amount, time: Timestamp,
        judged: Bool, aheadOfClock: Bool
    ) {
        self.eventIndex = eventIndex
        self.entitlementID = entitlementID
        self.customer = customer
        self.featureKey = featureKey
        self.amount = amount
        self.time = time
        self.judged = judged
        self.aheadOfClock = aheadOfClock
    }
}

/// The enforced uses of one batch, planned against one generation of the store's `EnforcementLedger`: a batch
/// planned before an entitlement, grant, customer or feature changed is planned again.
public struct EnforcementPlan: Sendable {
    var generation: Int
    var uses: [EnforcedUse]
}

/// The batch was refused: these events would count toward entitlements of customers without access.
public struct EnforcementRefusal: Error, Sendable, Hashable {
    public var refused: [EnforcedUse]

    public init(refused: [EnforcedUse]) { self.refused = refused }
}

/// The batch's plan is older than the ledger, or an entitlement it needs is being loaded: plan it again.
struct EnforcementStale: Error, Sendable {}
