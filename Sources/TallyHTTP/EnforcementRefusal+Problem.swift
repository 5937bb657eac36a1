import Hummingbird
import TallyCore
import TallyStore

extension EnforcementRefusal: ProblemRepresentable {
    /// 403 naming each refused event (its index in the batch), its customer and the feature it has no access to.
    public var problem: Problem {
        Problem(
            .forbidden, type: "urn:tally:problem:entitlement-access-denied",
            detail: "\(refused.count) event(s) would count toward entitlements without access; nothing was stored",
            errors: refused.map {
                FieldError(
                    field: "[\($0.eventIndex)]",
                    reason: $0.aheadOfClock
                        ? "is dated more than \(ShardStore.maxEnforcedLeadMinutes) minutes ahead of the node's clock: "
                            + "feature \($0.featureKey) judges usage only up to then"
                        : "customer \"\($0.customer.echoed)\" has no access to feature \($0.featureKey)")
            },
            extensions: [
                "refused": .array(
                    refused.map {
                        .object([
                            "index": .number(String($0.eventIndex)), "customer": .string($0.customer),
                            "feature": .string($0.featureKey), "entitlementId": .string($0.entitlementID),
                        ])
                    })
            ])
    }
}
