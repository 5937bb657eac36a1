/// Reads the members of a JSON object for a validating parser, collecting every invalid field instead of stopping
/// at the first.
struct FieldReader {
    let members: JSONObject
    var errors: [FieldError] = []

    mutating func fail(_ field: String, _ reason: String) { errors.append(FieldError(field: field, reason: reason)) }

    func hasError(for field: String) -> Bool { errors.contains { $0.field == field } }

    /// Whether the member is present and not `null` (an explicit `null` counts as absent).
    func has(_ name: String) -> Bool { members[name].map { $0 != .null } ?? false }

    mutating func requiredString(_ name: String) -> String? {
        guard let value = optionalString(name) else {
            if !hasError(for: name) { fail(name, "is required") }
            return nil
        }
        if value.isEmpty {
            fail(name, "must not be empty")
            return nil
        }
        return value
    }

    mutating func optionalString(_ name: String) -> String? {
        switch members[name] {
        case .none, .null: return nil
        case .string(let text): return text
        case .some(let other):
            fail(name, "must be a string, got \(other.kindName)")
            return nil
        }
    }

    mutating func path(_ name: String) -> JSONPath? {
        guard let text = optionalString(name) else { return nil }
        do { return try JSONPath(parsing: text) } catch {
            fail(name, "invalid JSONPath \"\(text.echoed)\": \(error.reason)")
            return nil
        }
    }

    mutating func optionalBool(_ name: String) -> Bool? {
        switch members[name] {
        case .none, .null: return nil
        case .bool(let value): return value
        case .some(let other):
            fail(name, "must be a boolean, got \(other.kindName)")
            return nil
        }
    }

    /// A whole number within `range`.
    mutating func optionalInt(_ name: String, in range: ClosedRange<Int>) -> Int? {
        switch members[name] {
        case .none, .null: return nil
        case .number(let text):
            guard let value = Int(text), range.contains(value) else {
                fail(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
                return nil
            }
            return value
        case .some(let other):
            fail(name, "must be a number, got \(other.kindName)")
            return nil
        }
    }

    /// An exact decimal between 0 and `Amount.maxEventMagnitude`.
    mutating func optionalAmount(_ name: String) -> Amount? {
        switch members[name] {
        case .none, .null: return nil
        case .number(let text):
            guard let value = Amount(parsing: text), value >= .zero, value.isWithinEventRange else {
                fail(name, "must be a number from 0 to \(Amount.maxEventMagnitude) with at most 9 decimals")
                return nil
            }
            return value
        case .some(let other):
            fail(name, "must be a number, got \(other.kindName)")
            return nil
        }
    }

    /// An RFC 3339 date-time.
    mutating func optionalTime(_ name: String) -> Timestamp? {
        guard let text = optionalString(name) else { return nil }
        guard let time = Timestamp(rfc3339: text) else {
            fail(name, "must be an RFC 3339 date-time within years 0001–9999, got \"\(text.echoed)\"")
            return nil
        }
        return time
    }

    /// An object of at most `InputLimits.maxMapEntries` members, all strings.
    mutating func stringMap(_ name: String) -> [String: String]? {
        switch members[name] {
        case .none, .null: return nil
        case .object(let entries) where entries.count > InputLimits.maxMapEntries:
            fail(name, "must have at most \(InputLimits.maxMapEntries) members")
            return nil
        case .object(let entries):
            var map: [String: String] = [:]
            for (key, value) in entries {
                if let text = value.stringValue {
                    map[key] = text
                } else {
                    fail("\(name).\(key.echoed)", "must be a string")
                }
            }
            return map
        case .some(let other):
            fail(name, "must be an object of strings, got \(other.kindName)")
            return nil
        }
    }

    /// The nested object `name` read by its own reader, whose errors come back prefixed with `name.`.
    mutating func object<T>(_ name: String, _ read: (inout FieldReader) -> T) -> T? {
        switch members[name] {
        case .none, .null: return nil
        case .object(let nested):
            var reader = FieldReader(members: nested)
            let result = read(&reader)
            errors += reader.errors.map { FieldError(field: "\(name).\($0.field)", reason: $0.reason) }
            return result
        case .some(let other):
            fail(name, "must be an object, got \(other.kindName)")
            return nil
        }
    }

    /// Fails every member not in `known`.
    mutating func rejectUnknown(_ known: Set<String>) {
        for (key, _) in members where !known.contains(key) { fail(key.echoed, "is not a known field") }
    }
}

extension FieldReader {
    /// An array of at most `max` strings.
    mutating func stringList(_ name: String, max: Int) -> [String]? {
        switch members[name] {
        case .none, .null: return nil
        case .array(let items) where items.count <= max:
            var list: [String] = []
            for (index, item) in items.enumerated() {
                if let text = item.stringValue, !text.isEmpty, text.utf8.count <= InputLimits.maxIdentifierBytes {
                    list.append(text)
                } else {
                    fail(
                        "\(name)[\(index)]",
                        "must be a non-empty string of at most \(InputLimits.maxIdentifierBytes) bytes")
                }
            }
            return list
        case .array:
            fail(name, "must have at most \(max) items")
            return nil
        case .some(let other):
            fail(name, "must be an array of strings, got \(other.kindName)")
            return nil
        }
    }
}
