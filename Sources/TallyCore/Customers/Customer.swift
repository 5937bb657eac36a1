/// A stored customer (upstream `Customer`): its usage is that of its subject keys, and its entitlements are stored
/// under its `ownerKey`.
public struct Customer: Sendable, Hashable, Codable {
    public var id: String
    public var spec: CustomerSpec
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var deletedAt: Timestamp?

    public init(id: String, spec: CustomerSpec, createdAt: Timestamp) {
        self.id = id
        self.spec = spec
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    /// What entitlements, grants and notifications name the customer by: its key, or its id when it has none.
    public var ownerKey: String { spec.key ?? id }

    /// The upstream `Customer` JSON.
    public var json: JSONValue {
        var members: JSONObject = [
            "id": .string(id), "name": .string(spec.name),
            "usageAttribution": .object(["subjectKeys": .array(spec.subjectKeys.map(JSONValue.string))]),
            "createdAt": .string(createdAt.description), "updatedAt": .string(updatedAt.description),
        ]
        if let key = spec.key { members["key"] = .string(key) }
        if let description = spec.description { members["description"] = .string(description) }
        if let metadata = spec.metadata { members["metadata"] = .object(JSONObject(metadata) { .string($0) }) }
        if let email = spec.primaryEmail { members["primaryEmail"] = .string(email) }
        if let currency = spec.currency { members["currency"] = .string(currency) }
        if let deletedAt { members["deletedAt"] = .string(deletedAt.description) }
        return .object(members)
    }
}

/// Who a customer- or subject-scoped route acts for: a stored customer, or a subject key that no customer
/// attributes, which acts as its own customer.
public struct UsageOwner: Sendable, Hashable {
    /// The key entitlements are stored under (`Customer.ownerKey`, or the subject key).
    public var key: String
    /// The subject keys whose usage counts for the owner.
    public var subjectKeys: [String]
    /// The stored customer, if there is one.
    public var customer: Customer?

    public init(customer: Customer) {
        key = customer.ownerKey
        subjectKeys = customer.spec.subjectKeys
        self.customer = customer
    }

    /// A subject key acting as its own customer.
    public init(subject: String) {
        key = subject
        subjectKeys = [subject]
        customer = nil
    }
}
