/// The user-supplied part of a meter (upstream `MeterCreate`), validated.
public struct MeterSpec: Sendable, Hashable {
    public static let maxSlugLength = 64
    public static let maxNameLength = 256
    public static let maxDescriptionLength = 1024

    public var slug: String
    public var name: String?
    public var description: String?
    public var metadata: [String: String]?
    public var aggregation: MeterAggregation
    public var eventType: String
    public var eventFrom: Timestamp?
    public var valueProperty: JSONPath?
    public var groupBy: [String: JSONPath]

    public init(
        slug: String, aggregation: MeterAggregation, eventType: String, valueProperty: JSONPath? = nil,
        groupBy: [String: JSONPath] = [:], name: String? = nil, description: String? = nil,
        metadata: [String: String]? = nil, eventFrom: Timestamp? = nil
    ) {
        self.slug = slug
        self.name = name
        self.description = description
        self.metadata = metadata
        self.aggregation = aggregation
        self.eventType = eventType
        self.eventFrom = eventFrom
        self.valueProperty = valueProperty
        self.groupBy = groupBy
    }

    /// `^[a-z0-9]+(?:_[a-z0-9]+)*$`, 1–64 characters.
    public static func isValidSlug(_ slug: String) -> Bool {
        guard !slug.isEmpty, slug.utf8.count <= maxSlugLength else { return false }
        let parts = slug.split(separator: "_", omittingEmptySubsequences: false)
        return parts.allSatisfy { part in
            !part.isEmpty && part.utf8.allSatisfy { (48...57).contains($0) || (97...122).contains($0) }
        }
    }

    /// Group names: letters, digits and underscores; `subject` is reserved.
    static func groupNameProblem(_ name: String) -> String? {
        if name == "subject" { return "\"subject\" is reserved" }
        let valid =
            !name.isEmpty && name.utf8.count <= maxSlugLength
            && name.utf8.allSatisfy {
                (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 95
            }
        return valid ? nil : "group names consist of 1–64 letters, digits and underscores"
    }

    /// Validates an upstream `MeterCreate` JSON body, reporting every invalid field.
    public static func parse(_ json: JSONValue) -> Result<MeterSpec, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        let slug = reader.requiredString("slug")
        if let slug, !isValidSlug(slug) {
            reader.fail("slug", "must match ^[a-z0-9]+(?:_[a-z0-9]+)*$ and be at most \(maxSlugLength) characters")
        }
        let aggregationText = reader.requiredString("aggregation")
        var aggregation: MeterAggregation?
        if let aggregationText {
            aggregation = MeterAggregation(rawValue: aggregationText)
            if aggregation == nil {
                reader.fail(
                    "aggregation", "must be one of \(MeterAggregation.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
        }
        let eventType = reader.requiredString("eventType")
        if let eventType, eventType.utf8.count > InputLimits.maxIdentifierBytes {
            reader.fail("eventType", "must be at most \(InputLimits.maxIdentifierBytes) bytes")
        }
        let valueProperty = reader.path("valueProperty")
        if let aggregation, aggregation.needsValue, valueProperty == nil, !reader.hasError(for: "valueProperty") {
            reader.fail("valueProperty", "is required for \(aggregation.rawValue) meters")
        }
        let eventFromText = reader.optionalString("eventFrom")
        var eventFrom: Timestamp?
        if let eventFromText {
            eventFrom = Timestamp(rfc3339: eventFromText)
            if eventFrom == nil { reader.fail("eventFrom", "must be an RFC 3339 date-time") }
        }
        let common = reader.commonFields()
        guard reader.errors.isEmpty, let slug, let aggregation, let eventType else {
            return .failure(ValidationFailure(reader.errors))
        }
        return .success(
            MeterSpec(
                slug: slug, aggregation: aggregation, eventType: eventType,
                valueProperty: aggregation.needsValue ? valueProperty : nil,
                groupBy: common.groupBy ?? [:], name: common.name, description: common.description,
                metadata: common.metadata, eventFrom: eventFrom))
    }
}

extension FieldReader {
    /// The fields that both create and update accept.
    struct CommonFields {
        var name: String?
        var description: String?
        var metadata: [String: String]?
        var groupBy: [String: JSONPath]?
    }

    mutating func commonFields() -> CommonFields {
        var fields = CommonFields()
        fields.name = optionalString("name")
        if let name = fields.name, name.isEmpty || name.count > MeterSpec.maxNameLength {
            fail("name", "must be 1–\(MeterSpec.maxNameLength) characters")
        }
        fields.description = optionalString("description")
        if let description = fields.description, description.count > MeterSpec.maxDescriptionLength {
            fail("description", "must be at most \(MeterSpec.maxDescriptionLength) characters")
        }
        fields.metadata = stringMap("metadata")
        switch members["groupBy"] {
        case .none, .null: break
        case .object(let entries):
            var groupBy: [String: JSONPath] = [:]
            for (key, value) in entries {
                if let problem = MeterSpec.groupNameProblem(key) {
                    fail("groupBy.\(key.echoed)", problem)
                    continue
                }
                guard let text = value.stringValue else {
                    fail("groupBy.\(key)", "must be a JSONPath string")
                    continue
                }
                do { groupBy[key] = try JSONPath(parsing: text) } catch {
                    fail("groupBy.\(key)", "invalid JSONPath \"\(text.echoed)\": \(error.reason)")
                }
            }
            fields.groupBy = groupBy
        case .some(let other): fail("groupBy", "must be an object of JSONPath strings, got \(other.kindName)")
        }
        return fields
    }
}
