/// A feature customers can be entitled to (upstream `FeatureCreateInputs`), validated.
public struct FeatureSpec: Sendable, Hashable {
    public var key: String
    public var name: String
    public var meterSlug: String?
    public var meterGroupByFilters: [String: String]?
    public var metadata: [String: String]?
    /// Tally's addition: `reject` refuses ingested events that would count toward an entitlement without access.
    public var enforcement: Enforcement

    /// What happens to usage of a customer without access.
    public enum Enforcement: String, Sendable, Hashable, CaseIterable {
        case none
        case reject
    }

    /// Validates a create body, reporting every invalid field.
    public static func parse(_ json: JSONValue) -> Result<FeatureSpec, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        let key = reader.requiredString("key")
        if let key, !MeterSpec.isValidSlug(key) {
            reader.fail(
                "key", "must match ^[a-z0-9]+(?:_[a-z0-9]+)*$ and be at most \(MeterSpec.maxSlugLength) characters")
        } else if let key, ULID.isValid(key.uppercased()) {
            reader.fail("key", "must not be a ULID (it would be taken for a feature id)")
        }
        let name = reader.requiredString("name")
        if let name, name.count > MeterSpec.maxNameLength {
            reader.fail("name", "must be at most \(MeterSpec.maxNameLength) characters")
        }
        let meterSlug = reader.optionalString("meterSlug")
        let filters = reader.stringMap("meterGroupByFilters")
        if filters != nil, meterSlug == nil { reader.fail("meterGroupByFilters", "needs meterSlug") }
        let metadata = reader.stringMap("metadata")
        var enforcement = Enforcement.none
        if let text = reader.optionalString("enforcement") {
            if let parsed = Enforcement(rawValue: text) {
                enforcement = parsed
            } else {
                reader.fail("enforcement", "must be none or reject")
            }
        }
        if enforcement == .reject, meterSlug == nil, !reader.hasError(for: "meterSlug") {
            reader.fail("enforcement", "reject needs meterSlug")
        }
        guard reader.errors.isEmpty, let key, let name else { return .failure(ValidationFailure(reader.errors)) }
        return .success(
            FeatureSpec(
                key: key, name: name, meterSlug: meterSlug, meterGroupByFilters: filters, metadata: metadata,
                enforcement: enforcement))
    }
}

/// A stored feature (upstream `Feature`).
public struct Feature: Sendable, Hashable {
    public var id: String
    public var spec: FeatureSpec
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var archivedAt: Timestamp?

    public init(id: String, spec: FeatureSpec, createdAt: Timestamp) {
        self.id = id
        self.spec = spec
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    public var key: String { spec.key }
    /// Whether entitlements to it measure usage (it names a meter).
    public var isMetered: Bool { spec.meterSlug != nil }

    /// The upstream `Feature` JSON.
    public var json: JSONValue {
        var members: JSONObject = [
            "id": .string(id), "key": .string(spec.key), "name": .string(spec.name),
            "enforcement": .string(spec.enforcement.rawValue),
            "createdAt": .string(createdAt.description), "updatedAt": .string(updatedAt.description),
        ]
        if let slug = spec.meterSlug { members["meterSlug"] = .string(slug) }
        if let filters = spec.meterGroupByFilters {
            members["meterGroupByFilters"] = .object(JSONObject(filters) { .string($0) })
        }
        if let metadata = spec.metadata { members["metadata"] = .object(JSONObject(metadata) { .string($0) }) }
        if let archivedAt { members["archivedAt"] = .string(archivedAt.description) }
        return .object(members)
    }

    /// Rebuilds a feature from its `json` form (as stored); nil when it is not one.
    public init?(json: JSONValue) {
        guard case .success(let spec) = FeatureSpec.parse(Feature.specMembers(of: json)),
            let id = json["id"]?.stringValue,
            let created = json["createdAt"]?.stringValue.flatMap({ Timestamp(rfc3339: $0) }),
            let updated = json["updatedAt"]?.stringValue.flatMap({ Timestamp(rfc3339: $0) })
        else { return nil }
        self.init(id: id, spec: spec, createdAt: created)
        updatedAt = updated
        archivedAt = json["archivedAt"]?.stringValue.flatMap { Timestamp(rfc3339: $0) }
    }

    private static func specMembers(of json: JSONValue) -> JSONValue {
        guard var members = json.objectValue else { return json }
        for key in ["id", "createdAt", "updatedAt", "archivedAt"] { members[key] = nil }
        return .object(members)
    }
}
