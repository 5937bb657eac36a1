/// A usage event in CloudEvents 1.0 JSON form, validated.
public struct CloudEvent: Sendable, Hashable {
    public var id: String
    public var source: String
    public var specversion: String
    public var type: String
    public var subject: String
    public var time: Timestamp
    /// The payload: a JSON object, or `.null` when the event carried none.
    public var data: JSONValue
    public var dataContentType: String?
    public var dataSchema: String?
    /// The event's JSON text as received, when it came from a request body; stored as the raw event so
    /// extension attributes and the original form are kept for audits.
    public var receivedJSON: String?
    /// Whether `time` was given on arrival because the event carried none.
    public var timeAssigned = false

    public init(
        id: String, source: String, type: String, subject: String, time: Timestamp, data: JSONValue,
        specversion: String = "1.0", dataContentType: String? = nil, dataSchema: String? = nil
    ) {
        self.id = id
        self.source = source
        self.specversion = specversion
        self.type = type
        self.subject = subject
        self.time = time
        self.data = data
        self.dataContentType = dataContentType
        self.dataSchema = dataSchema
    }

    /// Validates one JSON event. `now` fills a missing `time`; `fieldPrefix` (e.g. `[3].`) prefixes field names.
    /// `checkingSizes` applies `InputLimits` to nesting and identifier lengths (off only for events already stored).
    public static func validate(
        _ json: JSONValue, now: Timestamp, fieldPrefix: String = "",
        checkingSizes: Bool = true
    ) -> Result<CloudEvent, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([
                    FieldError(
                        field: fieldPrefix.isEmpty ? "event" : String(fieldPrefix.dropLast()),
                        reason: "must be a JSON object, got \(json.kindName)")
                ]))
        }
        var errors: [FieldError] = []
        let depth = checkingSizes ? json.nestingDepth : 0
        if depth > InputLimits.maxEventNestingDepth {
            errors.append(
                FieldError(
                    field: fieldPrefix.isEmpty ? "event" : String(fieldPrefix.dropLast()),
                    reason: "nests \(depth) levels deep; at most \(InputLimits.maxEventNestingDepth) are allowed"))
        }
        func requiredString(_ name: String) -> String {
            switch members[name] {
            case .string(let text) where checkingSizes && text.utf8.count > InputLimits.maxIdentifierBytes:
                errors.append(
                    FieldError(
                        field: fieldPrefix + name,
                        reason: "must be at most \(InputLimits.maxIdentifierBytes) bytes, got \(text.utf8.count)"))
            case .string(let text) where !text.isEmpty:
                return text
            case .none, .null:
                errors.append(FieldError(field: fieldPrefix + name, reason: "is required"))
            case .string:
                errors.append(FieldError(field: fieldPrefix + name, reason: "must not be empty"))
            case .some(let other):
                errors.append(FieldError(field: fieldPrefix + name, reason: "must be a string, got \(other.kindName)"))
            }
            return ""
        }
        func optionalString(_ name: String) -> String? {
            switch members[name] {
            case .none, .null: return nil
            case .string(let text): return text
            case .some(let other):
                errors.append(FieldError(field: fieldPrefix + name, reason: "must be a string, got \(other.kindName)"))
                return nil
            }
        }
        let id = requiredString("id")
        let source = requiredString("source")
        let specversion = requiredString("specversion")
        let type = requiredString("type")
        let subject = requiredString("subject")
        if !specversion.isEmpty && specversion != "1.0" {
            errors.append(
                FieldError(field: fieldPrefix + "specversion", reason: "must be \"1.0\", got \"\(specversion.echoed)\"")
            )
        }
        var time = now
        let timeText = optionalString("time")
        if let text = timeText {
            if let parsed = Timestamp(rfc3339: text) {
                time = parsed
            } else {
                errors.append(
                    FieldError(
                        field: fieldPrefix + "time",
                        reason: "must be an RFC 3339 date-time in years 0001–9999, got \"\(text.echoed)\""))
            }
        }
        let data = members["data"] ?? .null
        switch data {
        case .object, .null: break
        default:
            errors.append(
                FieldError(field: fieldPrefix + "data", reason: "must be a JSON object, got \(data.kindName)"))
        }
        let contentType = optionalString("datacontenttype")
        if let contentType, contentType != "application/json" {
            errors.append(
                FieldError(
                    field: fieldPrefix + "datacontenttype",
                    reason: "only \"application/json\" is supported, got \"\(contentType.echoed)\""))
        }
        let schema = optionalString("dataschema")
        guard errors.isEmpty else { return .failure(ValidationFailure(errors)) }
        var event = CloudEvent(
            id: id, source: source, type: type, subject: subject, time: time, data: data,
            specversion: specversion, dataContentType: contentType, dataSchema: schema)
        event.timeAssigned = timeText == nil
        return .success(event)
    }

    /// The event as received (extension attributes and `time` exactly as sent), with `time` added only when
    /// the event arrived without one; `json` when the received text is not known.
    public var receivedForm: JSONValue {
        guard let receivedJSON, case .object(var members)? = try? JSONParser.parse(receivedJSON) else { return json }
        if timeAssigned { members["time"] = .string(time.description) }
        return .object(members)
    }

    /// The event as CloudEvents JSON with the known attributes only.
    public var json: JSONValue {
        var members: JSONObject = [
            "id": .string(id), "source": .string(source), "specversion": .string(specversion),
            "type": .string(type), "subject": .string(subject), "time": .string(time.description),
        ]
        if data != .null { members["data"] = data }
        if let dataContentType { members["datacontenttype"] = .string(dataContentType) }
        if let dataSchema { members["dataschema"] = .string(dataSchema) }
        return .object(members)
    }
}
