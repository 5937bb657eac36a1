import Hummingbird
import TallyCore
import TallyStore

extension EntitlementStoreError: ProblemRepresentable {
    public var problem: Problem {
        switch self {
        case .featureNotFound(let idOrKey):
            Problem(
                .notFound, type: "urn:tally:problem:feature-not-found",
                detail: "no live feature with id or key \"\(idOrKey.echoed)\"",
                errors: [FieldError(field: "featureIdOrKey", reason: "no live feature has this id or key")])
        case .featureKeyTaken(let key):
            Problem(
                .conflict, type: "urn:tally:problem:feature-exists", detail: "a live feature already has key \(key)",
                errors: [FieldError(field: "key", reason: "is used by a live feature")])
        case .meterNotFound(let slug):
            Problem(
                .notFound, type: "urn:tally:problem:meter-not-found", detail: "no meter with slug \"\(slug.echoed)\"",
                errors: [FieldError(field: "meterSlug", reason: "no live meter has this slug")])
        case .meterAggregationUnsupported(let aggregation):
            Problem.invalidField(
                "meterSlug", "aggregates with \(aggregation); features need SUM, COUNT, UNIQUE_COUNT or LATEST")
        case .entitlementNotFound(let id):
            Problem(
                .notFound, type: "urn:tally:problem:entitlement-not-found",
                detail: "no entitlement \"\(id.echoed)\"",
                errors: [FieldError(field: "entitlementId", reason: "no such entitlement")])
        case .entitlementExists(let conflicting):
            Problem(
                .conflict, type: "urn:tally:problem:entitlement-exists",
                detail: "the customer already has an active entitlement to this feature",
                errors: [FieldError(field: "featureKey", reason: "has an active entitlement \(conflicting)")],
                extensions: ["extensions": .object(["conflictingEntityId": .string(conflicting)])])
        case .grantNotFound(let id):
            Problem(
                .notFound, type: "urn:tally:problem:grant-not-found", detail: "no grant \"\(id.echoed)\"",
                errors: [FieldError(field: "grantId", reason: "no such grant")])
        case .invalid(let field, let reason):
            Problem.invalidField(field, reason)
        }
    }
}

extension BalanceError: ProblemRepresentable {
    public var problem: Problem {
        switch self {
        case .tooManyPhases(let limit):
            Problem(
                .unprocessableContent, type: "urn:tally:problem:balance-too-long",
                detail: "the balance would cross more than \(limit) resets, grant changes and recurrences",
                errors: [FieldError(field: "time", reason: "is too far from the start of metering or the last reset")])
        case .overflow:
            Problem(
                .unprocessableContent, type: "urn:tally:problem:balance-overflow",
                detail: "the balance does not fit in an exact decimal",
                errors: [FieldError(field: "time", reason: "the usage sum overflows")])
        case .outOfRange:
            Problem.invalidField("time", "the usage period leaves years 0001–9999")
        }
    }
}
