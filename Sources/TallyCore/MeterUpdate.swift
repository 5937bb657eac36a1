/// An upstream `MeterUpdate`: only `name`, `description`, `metadata` and `groupBy` change.
public struct MeterUpdate: Sendable, Hashable {
    public var name: String?
    public var description: String?
    public var metadata: [String: String]?
    public var groupBy: [String: JSONPath]?

    public init(
        name: String? = nil, description: String? = nil, metadata: [String: String]? = nil,
        groupBy: [String: JSONPath]? = nil
    ) {
        self.name = name
        self.description = description
        self.metadata = metadata
        self.groupBy = groupBy
    }

    /// Validates an update body against the current meter. Fields that cannot change (`slug`, `aggregation`,
    /// `eventType`, `valueProperty`, `eventFrom`) are accepted only when they equal the current value.
    public static func parse(_ json: JSONValue, current: MeterDefinition) -> Result<MeterUpdate, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        let immutable: [(String, String?)] = [
            ("slug", current.slug), ("aggregation", current.aggregation.rawValue), ("eventType", current.eventType),
            ("valueProperty", current.valueProperty?.description), ("eventFrom", current.eventFrom?.description),
        ]
        for (field, value) in immutable {
            guard let given = members[field], given != .null else { continue }
            let same =
                field == "eventFrom"
                ? given.stringValue.flatMap { Timestamp(rfc3339: $0) } == current.eventFrom
                : given.stringValue == value
            if !same { reader.fail(field, "cannot be updated; create a new meter instead") }
        }
        let common = reader.commonFields()
        guard reader.errors.isEmpty else { return .failure(ValidationFailure(reader.errors)) }
        return .success(
            MeterUpdate(
                name: common.name, description: common.description, metadata: common.metadata, groupBy: common.groupBy))
    }

    /// The meter after this update, stamped `now`.
    public func applied(to meter: MeterDefinition, now: Timestamp) -> MeterDefinition {
        var updated = meter
        if let name { updated.name = name }
        if let description { updated.description = description }
        if let metadata { updated.metadata = metadata }
        if let groupBy { updated.groupBy = groupBy }
        updated.updatedAt = now
        return updated
    }
}
