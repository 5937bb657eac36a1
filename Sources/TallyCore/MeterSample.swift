/// What one event contributes to one meter: its value (if the aggregation reads one) and its group values.
public struct MeterSample: Sendable, Hashable {
    /// The numeric value for SUM, AVG, MIN, MAX and LATEST; nil for COUNT and UNIQUE_COUNT.
    public var amount: Amount?
    /// The distinct value for UNIQUE_COUNT.
    public var uniqueValue: Identifier?
    /// Group name → value (nil when the path selects nothing or null).
    public let groupValues: [String: String?]
    /// Canonical text of `groupValues` (sorted JSON object), used as the storage key.
    public let groupKey: String

    public init(amount: Amount?, uniqueValue: Identifier?, groupValues: [String: String?]) {
        self.amount = amount
        self.uniqueValue = uniqueValue
        self.groupValues = groupValues
        self.groupKey = GroupKey.encode(groupValues)
    }
}

/// Encoding of group values as a canonical JSON object, the form stored beside pre-aggregates.
public enum GroupKey {
    /// The key of a sample without groups.
    public static let empty = "{}"

    public static func encode(_ values: [String: String?]) -> String {
        guard !values.isEmpty else { return empty }
        var output: [UInt8] = [UInt8(ascii: "{")]
        for (index, name) in values.keys.sorted().enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(name, into: &output)
            output.append(UInt8(ascii: ":"))
            if let value = values[name] ?? nil {
                JSONWriter.writeString(value, into: &output)
            } else {
                output += "null".utf8
            }
        }
        output.append(UInt8(ascii: "}"))
        return String(decoding: output, as: UTF8.self)
    }

    public static func decode(_ key: String) -> [String: String?] {
        guard case .object(let members)? = try? JSONParser.parse(key) else { return [:] }
        var values: [String: String?] = [:]
        for (name, value) in members { values.updateValue(value.stringValue, forKey: name) }
        return values
    }
}

extension MeterDefinition {
    /// The sample `event` yields for this meter, or the reason it cannot be counted
    /// (shown as the event's validation error). Call only for events that `matches`.
    public func sample(_ event: CloudEvent) -> Result<MeterSample, SampleError> {
        var groupValues: [String: String?] = [:]
        for (name, path) in groupBy {
            let value = path.evaluate(event.data).flatMap(MeterDefinition.groupText)
            if let value, value.utf8.count > InputLimits.maxGroupValueBytes {
                return .failure(
                    SampleError(
                        meterSlug: slug,
                        reason: "group \(name) (\(path)) is longer than "
                            + "\(InputLimits.maxGroupValueBytes) bytes"))
            }
            groupValues.updateValue(value, forKey: name)
        }
        guard aggregation.needsValue, let valueProperty else {
            return .success(MeterSample(amount: nil, uniqueValue: nil, groupValues: groupValues))
        }
        guard let value = valueProperty.evaluate(event.data), value != .null else {
            return .failure(SampleError(meterSlug: slug, reason: "valueProperty \(valueProperty) is missing from data"))
        }
        if aggregation == .uniqueCount {
            let unique: String
            switch value {
            case .string(let text): unique = text
            case .number(let text): unique = Amount(parsing: text)?.description ?? text
            default:
                return .failure(
                    SampleError(
                        meterSlug: slug,
                        reason: "valueProperty \(valueProperty) must be a string "
                            + "or number for UNIQUE_COUNT, got \(value.kindName)"))
            }
            guard unique.utf8.count <= InputLimits.maxGroupValueBytes else {
                return .failure(
                    SampleError(
                        meterSlug: slug,
                        reason: "valueProperty \(valueProperty) is longer than "
                            + "\(InputLimits.maxGroupValueBytes) bytes"))
            }
            return .success(MeterSample(amount: nil, uniqueValue: Identifier(unique), groupValues: groupValues))
        }
        let amount: Amount?
        switch value {
        case .number(let text): amount = Amount(parsing: text)
        case .string(let text): amount = Amount(parsing: text)
        default:
            return .failure(
                SampleError(
                    meterSlug: slug,
                    reason: "valueProperty \(valueProperty) must be a number or numeric string, got \(value.kindName)"))
        }
        guard let amount else {
            if case .string(let text) = value, Double(text) == nil {
                return .failure(
                    SampleError(
                        meterSlug: slug,
                        reason: "valueProperty \(valueProperty) is not numeric: "
                            + "\"\(text.echoed)\""))
            }
            return .failure(
                SampleError(
                    meterSlug: slug,
                    reason: "valueProperty \(valueProperty) has more than 9 "
                        + "fractional digits or is out of range"))
        }
        guard amount.isWithinEventRange else {
            return .failure(
                SampleError(
                    meterSlug: slug,
                    reason: "valueProperty \(valueProperty) is out of range: "
                        + "the magnitude of one event's value is at most \(Amount.maxEventMagnitude)"))
        }
        return .success(MeterSample(amount: amount, uniqueValue: nil, groupValues: groupValues))
    }

    static func groupText(_ value: JSONValue) -> String? {
        switch value {
        case .null: nil
        case .string(let text): text
        case .number(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .array, .object: JSONWriter.string(value)
        }
    }
}

/// Why an event is stored but not counted by a meter.
public struct SampleError: Error, Sendable, Hashable {
    public var meterSlug: String
    public var reason: String
    public var message: String { "meter \(meterSlug): \(reason)" }
}
