import Hummingbird
import TallyCore
import TallyStore

extension EnforcementRefusal: ProblemRepresentable {
    /// 403 naming each refused event (its index in the batch), its customer and the feature it has no access to.
    public var problem: Problem {
        Self.problem(refused)
    }

    /// The refusal of a cluster's batch from its owners' refusals of their parts (`refused` as `problem` renders it,
    /// each index mapped by `batchIndex` from the part's to the batch's); nil when a worker's answer is not one.
    public static func merging(_ parts: [(refused: JSONValue, batchIndex: [Int])]) -> EnforcementRefusal? {
        var uses: [EnforcedUse] = []
        for (refused, batchIndex) in parts {
            for item in refused.arrayValue ?? [] {
                guard case .number(let text)? = item["index"], let index = Int(text),
                    batchIndex.indices.contains(index),
                    let customer = item["customer"]?.stringValue, let feature = item["feature"]?.stringValue,
                    let id = item["entitlementId"]?.stringValue
                else { return nil }
                uses.append(
                    EnforcedUse(
                        eventIndex: batchIndex[index], entitlementID: id, customer: customer, featureKey: feature,
                        amount: .zero, time: Timestamp(micros: 0), judged: true,
                        aheadOfClock: item["aheadOfClock"] == .bool(true)))
            }
        }
        return uses.isEmpty ? nil : EnforcementRefusal(refused: uses.sorted { $0.eventIndex < $1.eventIndex })
    }

    private static func problem(_ refused: [EnforcedUse]) -> Problem {
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
                            "aheadOfClock": .bool($0.aheadOfClock),
                        ])
                    })
            ])
    }
}
