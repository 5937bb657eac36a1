/// The members of a JSON object in document order, with last-one-wins for repeated names.
///
/// Event envelopes and payloads are small objects read a handful of times each; keeping members in
/// two arrays and finding them by a linear scan is several times cheaper than hashing every name into
/// a `Dictionary`, and ingestion parses millions of them. Equality and hashing ignore member order.
/// Member names are matched by their exact UTF-8 bytes, never by Unicode canonical equivalence.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// Above this many members, inserts find duplicates through a temporary index instead of a scan.
    static let linearInsertLimit = 16

    public private(set) var keys: [String] = []
    public private(set) var values: [JSONValue] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (key, value) in elements { self[key] = value }
    }

    public init(_ dictionary: [String: JSONValue]) {
        keys = Array(dictionary.keys)
        values = keys.map { dictionary[$0]! }
    }

    /// Builds an object from parsed members, keeping the last value of a repeated name. Objects
    /// without repeated names (nearly all) keep the parsed arrays as they are.
    init(parsedKeys: [String], values parsedValues: [JSONValue]) {
        if parsedKeys.count <= JSONObject.linearInsertLimit {
            let repeated = parsedKeys.indices.contains { index in
                parsedKeys[..<index].contains { $0.bytesEqual(parsedKeys[index]) }
            }
            guard repeated else {
                keys = parsedKeys
                values = parsedValues
                return
            }
            for (key, value) in zip(parsedKeys, parsedValues) { self[key] = value }
            return
        }
        var positions: [Identifier: Int] = [:]
        for (key, value) in zip(parsedKeys, parsedValues) {
            if let position = positions[Identifier(key)] {
                values[position] = value
            } else {
                positions[Identifier(key)] = keys.count
                keys.append(key)
                values.append(value)
            }
        }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> JSONValue? {
        get { keys.firstIndex { $0.bytesEqual(key) }.map { values[$0] } }
        set {
            if let position = keys.firstIndex(where: { $0.bytesEqual(key) }) {
                if let newValue {
                    values[position] = newValue
                } else {
                    keys.remove(at: position)
                    values.remove(at: position)
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var copy = self
        copy.values = try values.map(transform)
        return copy
    }

    public func makeIterator() -> Zip2Sequence<[String], [JSONValue]>.Iterator {
        zip(keys, values).makeIterator()
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.count == rhs.count && zip(lhs.keys, lhs.values).allSatisfy { rhs[$0.0] == $0.1 }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for key in keys.sorted(by: { $0.bytesPrecede($1) }) {
            hasher.combine(key)
            hasher.combine(self[key])
        }
    }
}

extension JSONObject {
    /// A JSON object from a dictionary of values converted by `transform`.
    public init<Value>(_ dictionary: [String: Value], _ transform: (Value) -> JSONValue) {
        self.init(dictionary.mapValues(transform))
    }
}
