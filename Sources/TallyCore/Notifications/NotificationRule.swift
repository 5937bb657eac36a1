/// A threshold of a balance-threshold rule: `usage_value` (usage above the value), `usage_percentage` (usage above
/// the share of all grants), `balance_value` (balance below the value; 0 fires at 0), and the deprecated aliases
/// `NUMBER` (= usage_value) and `PERCENT` (= usage_percentage).
public struct Threshold: Sendable, Hashable, Codable {
    public var type: String
    public var value: Amount

    public static let types = ["usage_value", "usage_percentage", "balance_value", "NUMBER", "PERCENT"]

    public var isPercentage: Bool { type == "usage_percentage" || type == "PERCENT" }
    public var isBalance: Bool { type == "balance_value" }

    public var json: JSONValue { .object(["type": .string(type), "value": .amount(value)]) }
}

/// The validated body of a rule create or update (upstream `NotificationRuleCreateRequest`).
public struct RuleSpec: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case balanceThreshold = "entitlements.balance.threshold"
        case reset = "entitlements.reset"
    }

    public var kind: Kind
    public var name: String
    public var channels: [String]
    public var thresholds: [Threshold]
    /// Feature ids or keys; empty matches every feature.
    public var features: [String]
    public var disabled: Bool
    public var metadata: [String: String]?

    /// Most channels one rule may notify.
    public static let maxChannels = 5
    /// Most thresholds one rule may have.
    public static let maxThresholds = 10

    public static func parse(_ json: JSONValue) -> Result<RuleSpec, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        let typeText = reader.requiredString("type")
        let kind = typeText.flatMap(Kind.init(rawValue:))
        if typeText != nil, kind == nil {
            reader.fail("type", "must be entitlements.balance.threshold or entitlements.reset")
        }
        let name = reader.requiredString("name")
        let channels = reader.stringList("channels", max: maxChannels) ?? []
        if channels.isEmpty, !reader.hasError(for: "channels") { reader.fail("channels", "needs 1 to \(maxChannels)") }
        if Set(channels).count != channels.count { reader.fail("channels", "must not repeat a channel") }
        let features = reader.stringList("features", max: 100) ?? []
        if Set(features).count != features.count { reader.fail("features", "must not repeat a feature") }
        var thresholds: [Threshold] = []
        if kind == .balanceThreshold {
            switch members["thresholds"] {
            case .array(let items) where (1...maxThresholds).contains(items.count):
                for (index, item) in items.enumerated() {
                    let field = "thresholds[\(index)]"
                    guard case .object(let threshold) = item else {
                        reader.fail(field, "must be an object")
                        continue
                    }
                    var nested = FieldReader(members: threshold)
                    let type = nested.requiredString("type")
                    let value = nested.optionalAmount("value")
                    if !nested.has("value") { nested.fail("value", "is required") }
                    if let type, !Threshold.types.contains(type) {
                        nested.fail("type", "must be one of \(Threshold.types.joined(separator: ", "))")
                    }
                    if let type, let value, type != "balance_value", value == .zero {
                        nested.fail("value", "must be positive for usage thresholds")
                    }
                    reader.errors += nested.errors.map { FieldError(field: "\(field).\($0.field)", reason: $0.reason) }
                    if let type, let value, nested.errors.isEmpty {
                        thresholds.append(Threshold(type: type, value: value))
                    }
                }
            default: reader.fail("thresholds", "needs 1 to \(maxThresholds) thresholds")
            }
        }
        let disabled = reader.optionalBool("disabled") ?? false
        let metadata = reader.stringMap("metadata")
        guard reader.errors.isEmpty, let kind, let name else { return .failure(ValidationFailure(reader.errors)) }
        return .success(
            RuleSpec(
                kind: kind, name: name, channels: channels, thresholds: thresholds, features: features,
                disabled: disabled, metadata: metadata))
    }

    /// Which of `thresholds` are crossed by `value`, at most one of the usage kind (the highest amount; percentage
    /// wins a tie) and one of the balance kind (the lowest). None when no grant amount is available at all.
    public func crossed(by value: MeteredValue) -> [Threshold] {
        let total = value.totalAvailableGrantAmount
        guard total > .zero else { return [] }
        var usageKind: (threshold: Threshold, amount: Amount)?
        var balanceKind: Threshold?
        for threshold in thresholds {
            if threshold.isBalance {
                let active = threshold.value == .zero ? value.balance <= .zero : value.balance < threshold.value
                if active, balanceKind.map({ threshold.value < $0.value }) ?? true { balanceKind = threshold }
                continue
            }
            var amount = threshold.value
            if threshold.isPercentage {
                // total × value / 100 exactly, in full width; a quotient past Int128 is above any usage.
                let divisor = 100 * Amount.unitsPerWhole
                let (high, low) = total.units.multipliedFullWidth(by: threshold.value.units)
                guard high.magnitude < UInt128(divisor.magnitude) / 2 else { continue }
                amount = Amount(units: divisor.dividingFullWidth((high, low)).quotient)
            }
            guard value.usage > amount else { continue }
            if let current = usageKind,
                current.amount > amount || current.amount == amount && !threshold.isPercentage
            {
                continue
            }
            usageKind = (threshold, amount)
        }
        return [usageKind?.threshold, balanceKind].compactMap(\.self)
    }
}

/// A stored rule.
public struct NotificationRule: Sendable, Hashable, Codable {
    public var id: String
    public var spec: RuleSpec
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var deletedAt: Timestamp?

    public init(id: String, spec: RuleSpec, createdAt: Timestamp) {
        self.id = id
        self.spec = spec
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    /// Whether the rule watches entitlements of `feature`.
    public func watches(_ feature: Feature) -> Bool {
        spec.features.isEmpty || spec.features.contains(feature.id) || spec.features.contains(feature.key)
    }

    public var json: JSONValue {
        var members: JSONObject = [
            "id": .string(id), "type": .string(spec.kind.rawValue), "name": .string(spec.name),
            "disabled": .bool(spec.disabled || deletedAt != nil),
            "channels": .array(spec.channels.map { .object(["id": .string($0), "type": .string("WEBHOOK")]) }),
            "createdAt": .string(createdAt.description), "updatedAt": .string(updatedAt.description),
        ]
        if spec.kind == .balanceThreshold { members["thresholds"] = .array(spec.thresholds.map(\.json)) }
        if !spec.features.isEmpty {
            members["features"] = .array(spec.features.map { .object(["id": .string($0), "key": .string($0)]) })
        }
        if let metadata = spec.metadata { members["metadata"] = .object(JSONObject(metadata) { .string($0) }) }
        if let deletedAt { members["deletedAt"] = .string(deletedAt.description) }
        return .object(members)
    }
}
