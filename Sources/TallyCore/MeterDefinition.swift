/// A meter: which events it counts (`eventType`, `eventFrom`), what value it reads and how it groups them.
public struct MeterDefinition: Sendable, Hashable {
    public var id: String
    public var slug: String
    public var name: String
    public var description: String?
    public var metadata: [String: String]?
    public var aggregation: MeterAggregation
    public var eventType: String
    public var eventFrom: Timestamp?
    public var valueProperty: JSONPath?
    public var groupBy: [String: JSONPath]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var deletedAt: Timestamp?

    public init(id: String, spec: MeterSpec, createdAt: Timestamp) {
        self.id = id
        self.slug = spec.slug
        self.name = spec.name ?? spec.slug
        self.description = spec.description
        self.metadata = spec.metadata
        self.aggregation = spec.aggregation
        self.eventType = spec.eventType
        self.eventFrom = spec.eventFrom
        self.valueProperty = spec.valueProperty
        self.groupBy = spec.groupBy
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.deletedAt = nil
    }

    /// Whether this meter counts `event` at all (type and `eventFrom`).
    public func matches(_ event: CloudEvent) -> Bool {
        event.type.bytesEqual(eventType) && (eventFrom.map { event.time >= $0 } ?? true)
    }

    /// The upstream `Meter` JSON.
    public var json: JSONValue {
        var members: JSONObject = [
            "id": .string(id), "slug": .string(slug), "name": .string(name),
            "aggregation": .string(aggregation.rawValue), "eventType": .string(eventType),
            "groupBy": .object(JSONObject(groupBy) { .string($0.description) }),
            "createdAt": .string(createdAt.description), "updatedAt": .string(updatedAt.description),
        ]
        if let description { members["description"] = .string(description) }
        if let metadata { members["metadata"] = .object(JSONObject(metadata) { .string($0) }) }
        if let eventFrom { members["eventFrom"] = .string(eventFrom.description) }
        if let valueProperty { members["valueProperty"] = .string(valueProperty.description) }
        if let deletedAt { members["deletedAt"] = .string(deletedAt.description) }
        return .object(members)
    }
}

extension MeterDefinition {
    /// Rebuilds a meter from its `json` form (as stored); nil when the JSON is not a valid meter.
    public init?(json: JSONValue) {
        guard case .success(let spec) = MeterSpec.parse(json), let id = json["id"]?.stringValue,
            let created = json["createdAt"]?.stringValue.flatMap({ Timestamp(rfc3339: $0) }),
            let updated = json["updatedAt"]?.stringValue.flatMap({ Timestamp(rfc3339: $0) })
        else { return nil }
        self.init(id: id, spec: spec, createdAt: created)
        self.updatedAt = updated
        self.deletedAt = json["deletedAt"]?.stringValue.flatMap { Timestamp(rfc3339: $0) }
    }
}
