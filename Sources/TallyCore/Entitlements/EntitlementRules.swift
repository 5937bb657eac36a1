/// The checks a grant, a void or a reset must pass against an entitlement's state, as pure decisions: nil when
/// allowed, else the field and the reason (a 400 problem at the HTTP edge).
public enum EntitlementRules {
    /// A grant may not start before the entitlement's current usage period.
    public static func grantRefusal(
        effectiveAt: Timestamp, entitlement: Entitlement, resets: [ManualReset], now: Timestamp
    ) -> FieldError? {
        guard let periods = entitlement.usagePeriods(resets: resets) else {
            return FieldError(field: "entitlement", reason: "only metered entitlements take grants")
        }
        if let current = periods.period(at: now), effectiveAt < current.from {
            return FieldError(
                field: "effectiveAt", reason: "must not be before the current usage period's start \(current.from)")
        }
        return nil
    }

    /// A void at `at` must be in the past, inside the current usage period, of a grant not voided yet.
    public static func voidRefusal(
        at: Timestamp, grant: Grant, entitlement: Entitlement, resets: [ManualReset], now: Timestamp
    ) -> FieldError? {
        if grant.voidedAt != nil { return FieldError(field: "grantId", reason: "the grant is already voided") }
        if at > now { return FieldError(field: "at", reason: "must not be in the future") }
        if let periods = entitlement.usagePeriods(resets: resets) {
            if let current = periods.period(at: now), at < current.from {
                return FieldError(
                    field: "at", reason: "must not be before the current usage period's start \(current.from)")
            }
        }
        return nil
    }

    /// A reset at `at` (already floored) must not be in the future (`requested` is the unfloored time), not before
    /// the current period, and not in the minute of the last reset or before it.
    public static func resetRefusal(
        at: Timestamp, requested: Timestamp, entitlement: Entitlement, resets: [ManualReset], now: Timestamp
    ) -> FieldError? {
        guard let terms = entitlement.meteredTerms, let periods = entitlement.usagePeriods(resets: resets) else {
            return FieldError(field: "entitlement", reason: "only metered entitlements can be reset")
        }
        if requested > now { return FieldError(field: "effectiveAt", reason: "must not be in the future") }
        let last = resets.last?.at ?? terms.measureUsageFrom
        if at <= last {
            return FieldError(
                field: "effectiveAt",
                reason: "must be after the last reset (or measureUsageFrom) \(last), in a later minute")
        }
        if let current = periods.period(at: now), at < current.from {
            return FieldError(
                field: "effectiveAt", reason: "must not be before the current usage period's start \(current.from)")
        }
        return nil
    }

    /// An override replaces an active entitlement of the same customer to the same feature.
    public static func overrideRefusal(
        of old: Entitlement, customer: String, feature: Feature, now: Timestamp
    )
        -> FieldError?
    {
        if old.deletedAt != nil { return FieldError(field: "entitlementId", reason: "the entitlement is deleted") }
        if !old.isActive(at: now) { return FieldError(field: "entitlementId", reason: "the entitlement is not active") }
        if old.customer != customer {
            return FieldError(field: "entitlementId", reason: "the entitlement belongs to another customer")
        }
        if old.featureID != feature.id {
            return FieldError(
                field: "featureKey", reason: "must name the overridden entitlement's feature \(old.featureKey)")
        }
        return nil
    }
}
