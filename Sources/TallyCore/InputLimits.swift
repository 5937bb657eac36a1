/// Bounds on values that come from outside, checked before they reach memory or an aggregate. The node, the
/// coordinator and the workers all validate with these, so a request is refused the same way everywhere.
public enum InputLimits {
    /// Longest `id`, `source`, `subject` and `type` of an event, in UTF-8 bytes.
    public static let maxIdentifierBytes = 1024
    /// Longest group value or distinct (UNIQUE_COUNT) value a meter reads from an event, in UTF-8 bytes.
    public static let maxGroupValueBytes = 1024
    /// Deepest nesting of arrays and objects inside one event (the batch array around it not counted).
    public static let maxEventNestingDepth = 32
    /// Most members of a string map given in a body (`metadata`, `meterGroupByFilters`, `customHeaders`).
    public static let maxMapEntries = 100
    /// Longest piece of input quoted back in an error message, in characters.
    public static let maxEchoCharacters = 64
}

extension InputLimits {
    /// A key, id or subject key a path or a body names: 1–`maxIdentifierBytes` bytes without control characters (ids
    /// and keys never hold them, and a NUL would cut the text SQLite compares).
    public static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= maxIdentifierBytes
            && !key.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }
}

extension StringProtocol {
    /// The text quoted in an error message: at most `InputLimits.maxEchoCharacters` characters, marked when cut.
    public var echoed: String {
        let limit = InputLimits.maxEchoCharacters
        guard count > limit else { return String(self) }
        return String(prefix(limit)) + "…(\(utf8.count) bytes)"
    }
}

extension JSONValue {
    /// Nesting depth of arrays and objects: 0 for a scalar, 1 for `{}` or `[1]`.
    public var nestingDepth: Int {
        switch self {
        case .null, .bool, .number, .string: 0
        case .array(let items): 1 + (items.lazy.map(\.nestingDepth).max() ?? 0)
        case .object(let members): 1 + (members.values.lazy.map(\.nestingDepth).max() ?? 0)
        }
    }
}
