import Foundation

/// A webhook channel's settings (upstream `NotificationChannelWebhookCreateRequest`), validated.
public struct ChannelSpec: Sendable, Hashable, Codable {
    public var name: String
    public var url: String
    public var disabled: Bool
    public var customHeaders: [String: String]
    /// `whsec_` and the base64 of the HMAC key; generated when a create request omits it.
    public var signingSecret: String?
    public var metadata: [String: String]?

    /// Longest webhook URL, in bytes.
    public static let maxURLBytes = 2048
    /// Most custom headers one channel may send.
    public static let maxCustomHeaders = 32

    /// Validates a create or update body, reporting every invalid field.
    public static func parse(_ json: JSONValue) -> Result<ChannelSpec, ValidationFailure> {
        guard case .object(let members) = json else {
            return .failure(
                ValidationFailure([FieldError(field: "body", reason: "must be a JSON object, got \(json.kindName)")]))
        }
        var reader = FieldReader(members: members)
        if let type = reader.requiredString("type"), type != "WEBHOOK" { reader.fail("type", "must be WEBHOOK") }
        let name = reader.requiredString("name")
        if let name, name.count > MeterSpec.maxNameLength {
            reader.fail("name", "must be at most \(MeterSpec.maxNameLength) characters")
        }
        let url = reader.requiredString("url")
        if let url, !ChannelSpec.isWebhookURL(url) {
            reader.fail("url", "must be an http or https URL of at most \(maxURLBytes) bytes")
        }
        let headers = reader.stringMap("customHeaders") ?? [:]
        if headers.count > maxCustomHeaders { reader.fail("customHeaders", "must have at most \(maxCustomHeaders)") }
        for (key, value) in headers where !ChannelSpec.isHeader(key, value) {
            reader.fail("customHeaders.\(key.echoed)", "must be a header name and a value without line breaks")
        }
        let secret = reader.optionalString("signingSecret")
        if let secret, WebhookSecret.key(secret) == nil {
            reader.fail("signingSecret", "must match ^(whsec_)?[a-zA-Z0-9+/=]{32,100}$ and be base64")
        }
        let disabled = reader.optionalBool("disabled") ?? false
        let metadata = reader.stringMap("metadata")
        guard reader.errors.isEmpty, let name, let url else { return .failure(ValidationFailure(reader.errors)) }
        return .success(
            ChannelSpec(
                name: name, url: url, disabled: disabled, customHeaders: headers, signingSecret: secret,
                metadata: metadata))
    }

    /// An absolute http(s) URL with a host and, when given, a port from 1 to 65535 (checked again before each
    /// delivery: the HTTP client traps on a port out of range).
    public static func isWebhookURL(_ text: String) -> Bool {
        guard text.utf8.count <= maxURLBytes, text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }),
            let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else { return false }
        return components.port.map { (1...65_535).contains($0) } ?? true
    }

    static func isHeader(_ name: String, _ value: String) -> Bool {
        let token = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".unicodeScalars)
        return !name.isEmpty && name.utf8.count <= 256 && name.unicodeScalars.allSatisfy(token.contains)
            && value.utf8.count <= 4096 && !value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }
}

/// The key of a signing secret: `whsec_` (optional) and 32–100 base64 characters.
public enum WebhookSecret {
    /// The HMAC key the secret encodes, or nil when it is not a valid secret.
    public static func key(_ secret: String) -> [UInt8]? {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".unicodeScalars)
        guard (32...100).contains(encoded.count), encoded.unicodeScalars.allSatisfy(alphabet.contains),
            let data = Data(base64Encoded: encoded), !data.isEmpty
        else { return nil }
        return Array(data)
    }
}

/// A stored webhook channel (upstream `NotificationChannelWebhook`).
public struct NotificationChannel: Sendable, Hashable, Codable {
    public var id: String
    public var spec: ChannelSpec
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var deletedAt: Timestamp?

    public init(id: String, spec: ChannelSpec, createdAt: Timestamp) {
        self.id = id
        self.spec = spec
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    public var json: JSONValue {
        var members: JSONObject = [
            "id": .string(id), "type": .string("WEBHOOK"), "name": .string(spec.name), "url": .string(spec.url),
            "disabled": .bool(spec.disabled), "customHeaders": .object(JSONObject(spec.customHeaders) { .string($0) }),
            "signingSecret": .string(spec.signingSecret ?? ""), "createdAt": .string(createdAt.description),
            "updatedAt": .string(updatedAt.description),
        ]
        if let metadata = spec.metadata { members["metadata"] = .object(JSONObject(metadata) { .string($0) }) }
        if let deletedAt { members["deletedAt"] = .string(deletedAt.description) }
        return .object(members)
    }
}
