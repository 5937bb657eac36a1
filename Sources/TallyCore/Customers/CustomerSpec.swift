/// A customer as a create or replace body describes it (upstream `CustomerCreate` / `CustomerReplaceUpdate`),
/// validated. Usage is attributed to the customer through its subject keys; a customer without a key is addressed
/// by its id.
public struct CustomerSpec: Sendable, Hashable, Codable {
    /// Most subject keys one customer attributes.
    public static let maxSubjectKeys = 100
    /// Longest name, in characters (upstream's bound).
    public static let maxNameCharacters = 256
    /// Longest description, in characters (upstream's bound).
    public static let maxDescriptionCharacters = 1024
    /// Longest primary e-mail address, in bytes.
    public static let maxEmailBytes = 320

    public var name: String
    public var key: String?
    public var description: String?
    public var metadata: [String: String]?
    public var subjectKeys: [String]
    public var primaryEmail: String?
    /// ISO 4217 code, three upper-case letters.
    public var currency: String?

    public init(
        name: String, key: String? = nil, description: String? = nil, metadata: [String: String]? = nil,
        subjectKeys: [String] = [], primaryEmail: String? = nil, currency: String? = nil
    ) {
        self.name = name
        self.key = key
        self.description = description
        self.metadata = metadata
        self.subjectKeys = subjectKeys
        self.primaryEmail = primaryEmail
        self.currency = currency
    }

    /// Validates a create or replace body, reporting every invalid field. Either `key` or
    /// `usageAttribution.subjectKeys` must be given; a customer with a key and no subject keys attributes its key.
    public static func parse(_ json: JSONValue) -> Result<CustomerSpec, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        let name = reader.requiredString("name")
        if let name, name.count > maxNameCharacters {
            reader.fail("name", "must be at most \(maxNameCharacters) characters")
        }
        let key = reader.optionalString("key")
        if let key, !InputLimits.isValidKey(key) {
            reader.fail("key", "must be 1–\(InputLimits.maxIdentifierBytes) bytes without control characters")
        } else if let key, ULID.isValid(key.uppercased()) {
            reader.fail("key", "must not be a ULID (it would be taken for a customer id)")
        }
        let description = reader.optionalString("description")
        if let description, description.count > maxDescriptionCharacters {
            reader.fail("description", "must be at most \(maxDescriptionCharacters) characters")
        }
        let metadata = reader.stringMap("metadata")
        let subjectKeys =
            reader.object("usageAttribution") { nested -> [String]? in
                guard nested.has("subjectKeys") else {
                    nested.fail("subjectKeys", "is required")
                    return nil
                }
                return nested.stringList("subjectKeys", max: maxSubjectKeys)
            } ?? nil
        if let subjectKeys {
            if let control = subjectKeys.first(where: { !InputLimits.isValidKey($0) }) {
                reader.fail("usageAttribution.subjectKeys", "\"\(control.echoed)\" holds control characters")
            }
            if Set(subjectKeys).count != subjectKeys.count {
                reader.fail("usageAttribution.subjectKeys", "must not repeat a key")
            }
        }
        if key == nil, subjectKeys?.isEmpty ?? true, !reader.hasError(for: "key") {
            reader.fail("key", "is required when usageAttribution.subjectKeys is empty")
        }
        let primaryEmail = reader.optionalString("primaryEmail")
        if let primaryEmail, primaryEmail.utf8.count > maxEmailBytes || !primaryEmail.contains("@") {
            reader.fail("primaryEmail", "must be an e-mail address of at most \(maxEmailBytes) bytes")
        }
        let currency = reader.optionalString("currency")
        if let currency, currency.utf8.count != 3 || !currency.utf8.allSatisfy({ (65...90).contains($0) }) {
            reader.fail("currency", "must be an ISO 4217 code of three upper-case letters")
        }
        guard reader.errors.isEmpty, let name else { return .failure(ValidationFailure(reader.errors)) }
        let attributed = subjectKeys.flatMap { $0.isEmpty ? nil : $0 } ?? key.map { [$0] } ?? []
        return .success(
            CustomerSpec(
                name: name, key: key, description: description, metadata: metadata, subjectKeys: attributed,
                primaryEmail: primaryEmail, currency: currency))
    }
}
