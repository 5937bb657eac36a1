/// Which API version a grant request came through: their rollover defaults differ (v1 forfeits the balance at
/// every reset unless `maxRolloverAmount` says otherwise; v2 keeps up to the amount).
public enum APIVersion: Sendable, Hashable {
    case v1
    case v2
}

/// A stored grant: the engine's `Grant` and what the API reports besides.
public struct GrantRecord: Sendable, Hashable, Codable {
    public var grant: Grant
    public var entitlementID: String
    public var customer: String
    public var expiration: GrantExpiration?
    public var metadata: [String: String]?
    /// `{"issueAfterReset": true}` on the default grant of `issueAfterReset`.
    public var issuedAfterReset: Bool
    public var updatedAt: Timestamp

    public init(
        grant: Grant, entitlementID: String, customer: String, expiration: GrantExpiration?,
        metadata: [String: String]?, issuedAfterReset: Bool = false
    ) {
        self.grant = grant
        self.entitlementID = entitlementID
        self.customer = customer
        self.expiration = expiration
        self.metadata = metadata
        self.issuedAfterReset = issuedAfterReset
        self.updatedAt = grant.createdAt
    }
}

/// The validated body of a grant create request.
public struct GrantSpec: Sendable, Hashable {
    public var amount: Amount
    public var priority: Int
    public var effectiveAt: Timestamp
    public var expiration: GrantExpiration?
    public var minRolloverAmount: Amount
    public var maxRolloverAmount: Amount
    public var recurrence: Recurrence?
    public var metadata: [String: String]?

    /// Validates a create body, reporting every invalid field. Times are floored to the minute.
    public static func parse(_ json: JSONValue, version: APIVersion) -> Result<GrantSpec, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        let amount = reader.optionalAmount("amount")
        if !reader.has("amount") {
            reader.fail("amount", "is required")
        } else if let amount, amount == .zero {
            reader.fail("amount", "must be positive")
        }
        let priority = reader.optionalInt("priority", in: 1...255) ?? 0
        let effectiveAt = reader.optionalTime("effectiveAt")?.minuteFloor
        if !reader.has("effectiveAt") { reader.fail("effectiveAt", "is required") }
        let expiration =
            reader.object("expiration") { nested -> GrantExpiration? in
                let unitText = nested.requiredString("duration")
                let unit = unitText.flatMap(GrantExpiration.Unit.init(rawValue:))
                if unitText != nil, unit == nil { nested.fail("duration", "must be HOUR, DAY, WEEK, MONTH or YEAR") }
                let count = nested.optionalInt("count", in: 1...GrantExpiration.maxCount)
                if !nested.has("count") { nested.fail("count", "is required") }
                guard let unit, let count else { return nil }
                return GrantExpiration(unit: unit, count: count)
            } ?? nil
        if !reader.has("expiration"), version == .v1 { reader.fail("expiration", "is required") }
        let minimum = reader.optionalAmount("minRolloverAmount") ?? .zero
        let maximum = reader.optionalAmount("maxRolloverAmount") ?? (version == .v1 ? .zero : amount ?? .zero)
        let recurrence =
            reader.object("recurrence") { nested -> Recurrence? in
                let intervalText = nested.requiredString("interval")
                let interval = intervalText.flatMap(CalendarInterval.init(parsing:))
                if intervalText != nil, interval == nil {
                    nested.fail(
                        "interval", "must be DAY, WEEK, MONTH, YEAR or an ISO 8601 duration from one hour to 100 years")
                }
                let anchor = nested.optionalTime("anchor")?.minuteFloor ?? effectiveAt
                guard let interval, let anchor else { return nil }
                return Recurrence(anchor: anchor, interval: interval)
            } ?? nil
        let metadata = reader.stringMap("metadata")
        if let effectiveAt, let expiration, expiration.expiry(from: effectiveAt) == nil {
            reader.fail("expiration", "ends after year 9999")
        }
        guard reader.errors.isEmpty, let amount, let effectiveAt else {
            return .failure(ValidationFailure(reader.errors))
        }
        return .success(
            GrantSpec(
                amount: amount, priority: priority, effectiveAt: effectiveAt, expiration: expiration,
                minRolloverAmount: minimum, maxRolloverAmount: maximum, recurrence: recurrence,
                metadata: metadata))
    }
}
