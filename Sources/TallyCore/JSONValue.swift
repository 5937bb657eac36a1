/// A parsed JSON document that keeps numbers as their exact source text.
///
/// Foundation's decoders turn numbers into `Double`, which loses digits that billing needs;
/// Tally's own parser (`JSONParser`) and writer (`JSONWriter`) keep them exact.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A JSON number, as its validated source text.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The member `key` of an object, nil for other kinds or a missing key.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// A name for error messages: "string", "number", "object"...
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Convenience for building numbers from exact amounts.
    public static func amount(_ value: Amount) -> JSONValue { .number(value.description) }
}
