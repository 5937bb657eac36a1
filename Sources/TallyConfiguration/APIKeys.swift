import TallyCore

/// The API keys a node accepts (`apiKeys` and `adminApiKeys` in the configuration). With none, the API is open.
/// With any, every request but the health checks needs one of them, and requests that change the cluster's
/// membership (`POST`/`DELETE` under `/api/v1/cluster`) need an admin key; admin keys are valid everywhere.
public struct APIKeys: Sendable, Hashable, ExpressibleByArrayLiteral {
    public var keys: Set<String>
    public var adminKeys: Set<String>
    /// Most keys of each kind a configuration may list.
    public static let maxKeys = 1_000
    /// Longest key, in UTF-8 bytes.
    public static let maxKeyBytes = 256

    /// What a request may do with the key it sent.
    public enum Access: Sendable, Hashable {
        case allowed
        /// No key, or a key that is not configured.
        case unauthorized
        /// A valid key, but not an admin key where one is needed.
        case forbidden
    }

    public init(keys: Set<String> = [], adminKeys: Set<String> = []) {
        self.keys = keys
        self.adminKeys = adminKeys
    }

    public init(arrayLiteral elements: String...) {
        self.init(keys: Set(elements))
    }

    /// True when no key of either kind is configured: the API is open.
    public var isEmpty: Bool { keys.isEmpty && adminKeys.isEmpty }

    /// Whether a request carrying `key` may go on; `needsAdmin` for a change of the cluster's membership.
    public func access(_ key: String?, needsAdmin: Bool) -> Access {
        guard !isEmpty else { return .allowed }
        guard let key, keys.contains(key) || adminKeys.contains(key) else { return .unauthorized }
        return !needsAdmin || adminKeys.contains(key) ? .allowed : .forbidden
    }

    /// Reads a list of keys at `field`; problems are appended to `errors`.
    static func parse(_ value: JSONValue, field: String, errors: inout [FieldError]) -> Set<String> {
        guard let items = value.arrayValue else {
            errors.append(FieldError(field: field, reason: "must be a list of strings"))
            return []
        }
        guard items.count <= maxKeys else {
            errors.append(FieldError(field: field, reason: "must list at most \(maxKeys) keys"))
            return []
        }
        var keys = Set<String>()
        for (index, item) in items.enumerated() {
            guard let key = item.stringValue, !key.isEmpty, key.utf8.count <= maxKeyBytes,
                !key.contains(where: { $0.isWhitespace })
            else {
                errors.append(
                    FieldError(
                        field: "\(field)[\(index)]",
                        reason: "must be a string of 1 to \(maxKeyBytes) bytes without whitespace"))
                continue
            }
            keys.insert(key)
        }
        return keys
    }
}
