import Hummingbird
import TallyCore
import TallyStore

extension CustomerStoreError: ProblemRepresentable {
    public var problem: Problem {
        switch self {
        case .customerNotFound(let idOrKey):
            Problem(
                .notFound, type: "urn:tally:problem:customer-not-found",
                detail: "no live customer with id or key \"\(idOrKey.echoed)\"",
                errors: [FieldError(field: "customerIdOrKey", reason: "no live customer has this id or key")])
        case .customerKeyTaken(let key):
            Problem(
                .conflict, type: "urn:tally:problem:customer-exists",
                detail: "a live customer already has key \"\(key.echoed)\"",
                errors: [FieldError(field: "key", reason: "is used by a live customer")])
        case .subjectAttributed(let subject, let customerID):
            Problem(
                .conflict, type: "urn:tally:problem:subject-attributed",
                detail: "subject key \"\(subject.echoed)\" is attributed to customer \(customerID)",
                errors: [FieldError(field: "usageAttribution.subjectKeys", reason: "\"\(subject.echoed)\" is taken")],
                extensions: ["extensions": .object(["conflictingEntityId": .string(customerID)])])
        case .subjectHasEntitlements(let subject):
            Problem(
                .conflict, type: "urn:tally:problem:subject-has-entitlements",
                detail: "subject key \"\(subject.echoed)\" holds entitlements as its own customer; delete them first",
                errors: [
                    FieldError(
                        field: "usageAttribution.subjectKeys", reason: "\"\(subject.echoed)\" holds entitlements")
                ])
        case .customerHasEntitlements(let owner):
            Problem(
                .conflict, type: "urn:tally:problem:customer-has-entitlements",
                detail: "customer \"\(owner.echoed)\" holds entitlements; delete them first",
                errors: [FieldError(field: "customerIdOrKey", reason: "holds entitlements")])
        }
    }
}
