/// A customer's entitlement to a feature (upstream `Entitlement`): metered (with grants and usage periods),
/// boolean, or static (a JSON configuration string).
public struct Entitlement: Sendable, Hashable, Codable {
    public enum Kind: Sendable, Hashable, Codable {
        case metered(MeteredTerms)
        case boolean
        case staticConfig(String)

        public var name: String {
            switch self {
            case .metered: "metered"
            case .boolean: "boolean"
            case .staticConfig: "static"
            }
        }
    }

    /// The settings of a metered entitlement.
    public struct MeteredTerms: Sendable, Hashable, Codable {
        public var measureUsageFrom: Timestamp
        public var isSoftLimit: Bool
        /// The amount of the default grant issued at creation (0: none).
        public var issueAfterReset: Amount
        public var issueAfterResetPriority: Int?
        public var preserveOverageAtReset: Bool

        public init(
            measureUsageFrom: Timestamp, isSoftLimit: Bool, issueAfterReset: Amount, issueAfterResetPriority: Int?,
            preserveOverageAtReset: Bool
        ) {
            self.measureUsageFrom = measureUsageFrom
            self.isSoftLimit = isSoftLimit
            self.issueAfterReset = issueAfterReset
            self.issueAfterResetPriority = issueAfterResetPriority
            self.preserveOverageAtReset = preserveOverageAtReset
        }
    }

    public var id: String
    /// The subject key the entitlement belongs to (a subject key without a customer is its own customer).
    public var customer: String
    public var featureID: String
    public var featureKey: String
    public var kind: Kind
    /// The original usage period (metered always, boolean and static optionally).
    public var usagePeriod: Recurrence?
    public var metadata: [String: String]?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var activeTo: Timestamp?
    public var deletedAt: Timestamp?

    public init(
        id: String, customer: String, feature: Feature, kind: Kind, usagePeriod: Recurrence?,
        metadata: [String: String]?, createdAt: Timestamp
    ) {
        self.id = id
        self.customer = customer
        self.featureID = feature.id
        self.featureKey = feature.key
        self.kind = kind
        self.usagePeriod = usagePeriod
        self.metadata = metadata
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    /// Entitlements are active from creation until deleted or superseded by an override.
    public func isActive(at instant: Timestamp) -> Bool {
        createdAt <= instant && [activeTo, deletedAt].compactMap(\.self).allSatisfy { instant < $0 }
    }

    public var meteredTerms: MeteredTerms? {
        if case .metered(let terms) = kind { return terms }
        return nil
    }

    /// A metered entitlement's usage periods with its manual `resets`; nil for boolean and static ones.
    public func usagePeriods(resets: [ManualReset]) -> UsagePeriods? {
        guard let terms = meteredTerms, let usagePeriod else { return nil }
        return UsagePeriods(
            measureUsageFrom: terms.measureUsageFrom, usagePeriod: usagePeriod,
            manualResets: resets.map { ($0.at, $0.retainAnchor) })
    }
}

/// The validated body of an entitlement create (or override) request.
public struct EntitlementSpec: Sendable, Hashable {
    /// How the request names the feature: `featureId` wins over `featureKey`.
    public var featureIDOrKey: String
    public var kind: Kind
    public var usagePeriod: Recurrence?
    public var metadata: [String: String]?

    /// `kind` before the feature and the current period are known.
    public enum Kind: Sendable, Hashable {
        case metered(MeasureFrom, isSoftLimit: Bool, issueAfterReset: Amount, priority: Int?, preserveOverage: Bool)
        case boolean
        case staticConfig(String)
    }

    /// `measureUsageFrom`: a time or one of the presets.
    public enum MeasureFrom: Sendable, Hashable {
        case time(Timestamp)
        case currentPeriodStart
        case now
    }

    /// Most bytes of a static entitlement's `config` string.
    public static let maxConfigBytes = 16 * 1024

    /// Validates a create body at `now`, reporting every invalid field. Times are floored to the minute.
    public static func parse(_ json: JSONValue, now: Timestamp) -> Result<EntitlementSpec, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        let type = reader.requiredString("type")
        let featureID = reader.optionalString("featureId")
        let featureKey = reader.optionalString("featureKey")
        if featureID == nil, featureKey == nil, !reader.hasError(for: "featureKey") {
            reader.fail("featureKey", "featureKey or featureId is required")
        }
        let metadata = reader.stringMap("metadata")
        let usagePeriod =
            reader.object("usagePeriod") { nested -> Recurrence? in
                let intervalText = nested.requiredString("interval")
                let interval = intervalText.flatMap(CalendarInterval.init(parsing:))
                if intervalText != nil, interval == nil {
                    nested.fail(
                        "interval", "must be DAY, WEEK, MONTH, YEAR or an ISO 8601 duration from one hour to 100 years")
                }
                let anchor = nested.optionalTime("anchor")?.minuteFloor ?? now.minuteFloor
                return interval.map { Recurrence(anchor: anchor, interval: $0) }
            } ?? nil
        let meteredOnly = [
            "measureUsageFrom", "isSoftLimit", "issueAfterReset", "issueAfterResetPriority",
            "preserveOverageAtReset",
        ]
        var kind: Kind?
        switch type {
        case "metered":
            if reader.has("config") { reader.fail("config", "is not allowed for metered entitlements") }
            if usagePeriod == nil, !reader.errors.contains(where: { $0.field.hasPrefix("usagePeriod") }) {
                reader.fail("usagePeriod", "is required for metered entitlements")
            }
            var from = MeasureFrom.now
            switch members["measureUsageFrom"] {
            case .string("CURRENT_PERIOD_START"): from = .currentPeriodStart
            case .string("NOW"), .none, .null: from = .now
            default:
                if let time = reader.optionalTime("measureUsageFrom") { from = .time(time.minuteFloor) }
            }
            _ = reader.optionalBool("isUnlimited")
            let issue = reader.optionalAmount("issueAfterReset") ?? .zero
            let priority = reader.optionalInt("issueAfterResetPriority", in: 1...255)
            if priority != nil, !reader.has("issueAfterReset") {
                reader.fail("issueAfterResetPriority", "needs issueAfterReset")
            }
            // v2's `issue` is `issueAfterReset` with its priority.
            let issued = reader.object("issue") { nested -> (Amount?, Int?) in
                let amount = nested.optionalAmount("amount")
                if !nested.has("amount") { nested.fail("amount", "is required") }
                return (amount, nested.optionalInt("priority", in: 1...255))
            }
            if issued != nil, reader.has("issueAfterReset") {
                reader.fail("issue", "must not be given with issueAfterReset")
            }
            if reader.has("grants") {
                reader.fail(
                    "grants",
                    "is not supported: create the entitlement, then its grants"
                        + (reader.has("issue") || reader.has("issueAfterReset") ? " (and never with issue)" : ""))
            }
            kind = .metered(
                from, isSoftLimit: reader.optionalBool("isSoftLimit") ?? false,
                issueAfterReset: issued?.0 ?? issue, priority: issued?.1 ?? priority,
                preserveOverage: reader.optionalBool("preserveOverageAtReset") ?? false)
        case "boolean", "static":
            for name in meteredOnly + ["issue", "grants"] where reader.has(name) {
                reader.fail(name, "is only allowed for metered entitlements")
            }
            if type == "boolean" {
                if reader.has("config") { reader.fail("config", "is only allowed for static entitlements") }
                kind = .boolean
            } else if let config = reader.requiredString("config") {
                if config.utf8.count > maxConfigBytes {
                    reader.fail("config", "must be at most \(maxConfigBytes) bytes")
                } else if (try? JSONParser.parse(config)) == nil {
                    reader.fail("config", "must be a string holding JSON")
                } else {
                    kind = .staticConfig(config)
                }
            }
        case nil: break
        default: reader.fail("type", "must be metered, boolean or static")
        }
        guard reader.errors.isEmpty, let kind, let feature = featureID ?? featureKey else {
            return .failure(ValidationFailure(reader.errors))
        }
        return .success(
            EntitlementSpec(featureIDOrKey: feature, kind: kind, usagePeriod: usagePeriod, metadata: metadata))
    }
}
