/// One item of `POST /api/v1/subjects` (upstream `SubjectUpsert`), validated: a subject key with an optional display
/// name and metadata. Upserting a subject no customer attributes provisions a customer for it, as upstream does.
public struct SubjectUpsert: Sendable, Hashable {
    /// Most subjects one upsert request holds.
    public static let maxSubjectsPerRequest = 100

    public var key: String
    public var displayName: String?
    public var metadata: [String: String]?

    public init(key: String, displayName: String? = nil, metadata: [String: String]? = nil) {
        self.key = key
        self.displayName = displayName
        self.metadata = metadata
    }

    /// Validates the request body (an array of subjects), reporting every invalid field by its index.
    public static func parse(_ json: JSONValue) -> Result<[SubjectUpsert], ValidationFailure> {
        guard case .array(let items) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON array, got \(json.kindName)")]))
        }
        guard items.count <= maxSubjectsPerRequest else {
            return .failure(
                ValidationFailure([
                    FieldError(field: "body", reason: "must hold at most \(maxSubjectsPerRequest) subjects")
                ]))
        }
        var errors: [FieldError] = []
        var subjects: [SubjectUpsert] = []
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item else {
                errors.append(FieldError(field: "[\(index)]", reason: "must be an object, got \(item.kindName)"))
                continue
            }
            var reader = FieldReader(members: members)
            let key = reader.requiredString("key")
            if let key, !InputLimits.isValidKey(key) {
                reader.fail("key", "must be 1–\(InputLimits.maxIdentifierBytes) bytes without control characters")
            }
            let displayName = reader.optionalString("displayName")
            if let displayName, displayName.isEmpty || displayName.count > CustomerSpec.maxNameCharacters {
                reader.fail("displayName", "must be 1–\(CustomerSpec.maxNameCharacters) characters")
            }
            let metadata = reader.stringMap("metadata")
            errors += reader.errors.map { FieldError(field: "[\(index)].\($0.field)", reason: $0.reason) }
            if reader.errors.isEmpty, let key {
                subjects.append(SubjectUpsert(key: key, displayName: displayName, metadata: metadata))
            }
        }
        if Set(subjects.map(\.key)).count != subjects.count {
            errors.append(FieldError(field: "body", reason: "must not repeat a subject key"))
        }
        return errors.isEmpty ? .success(subjects) : .failure(ValidationFailure(errors))
    }
}
