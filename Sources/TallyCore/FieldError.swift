/// One invalid input field and why it was rejected; `field` is a path such as `[3].time` or `slug`.
public struct FieldError: Error, Sendable, Hashable {
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }
}

/// A rejected input: every field error found, not just the first.
public struct ValidationFailure: Error, Sendable, Hashable {
    public var errors: [FieldError]
    public init(_ errors: [FieldError]) { self.errors = errors }
}
