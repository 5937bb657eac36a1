/// The JSONPath subset Tally accepts for `valueProperty` and `groupBy`: `$`, `$.a.b`, `$['a b']`,
/// `$["a"]` and `$.a[0]`. Each path selects at most one value.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    /// One step of a path.
    public enum Segment: Sendable, Hashable {
        case member(String)
        case index(Int)
    }

    public let segments: [Segment]
    /// The text the path was parsed from.
    public let description: String

    /// Why a path expression was rejected.
    public struct ParseError: Error, Sendable, Equatable {
        public var reason: String
    }

    /// Longest path expression accepted, in UTF-8 bytes.
    public static let maxPathBytes = 256

    /// Parses a path expression; the reason names what is wrong.
    public init(parsing text: String) throws(ParseError) {
        guard text.utf8.count <= JSONPath.maxPathBytes else {
            throw ParseError(reason: "longer than \(JSONPath.maxPathBytes) bytes")
        }
        let chars = Array(text)
        guard chars.first == "$" else { throw ParseError(reason: "must start with '$'") }
        var segments: [Segment] = []
        var index = 1
        while index < chars.count {
            if chars[index] == "." {
                index += 1
                let start = index
                while index < chars.count, chars[index] != ".", chars[index] != "[" { index += 1 }
                guard index > start else { throw ParseError(reason: "empty member name at position \(start)") }
                segments.append(.member(String(chars[start..<index])))
            } else if chars[index] == "[" {
                index += 1
                guard index < chars.count else { throw ParseError(reason: "unterminated '['") }
                if chars[index] == "'" || chars[index] == "\"" {
                    let quote = chars[index]
                    index += 1
                    let start = index
                    while index < chars.count, chars[index] != quote { index += 1 }
                    guard index + 1 < chars.count, chars[index + 1] == "]" else {
                        throw ParseError(reason: "unterminated quoted member")
                    }
                    segments.append(.member(String(chars[start..<index])))
                    index += 2
                } else {
                    let start = index
                    while index < chars.count, chars[index].isASCII, chars[index].isNumber { index += 1 }
                    guard index > start, index < chars.count, chars[index] == "]",
                        let position = Int(String(chars[start..<index]))
                    else {
                        throw ParseError(reason: "expected an array index or a quoted member inside '[]'")
                    }
                    segments.append(.index(position))
                    index += 1
                }
            } else {
                throw ParseError(
                    reason: "unexpected '\(chars[index])' at position \(index); use '.name', ['name'] or [0]")
            }
        }
        self.segments = segments
        self.description = text
    }

    /// The value this path selects in `root`, or nil when any step is missing.
    public func evaluate(_ root: JSONValue) -> JSONValue? {
        var current = root
        for segment in segments {
            switch (segment, current) {
            case (.member(let name), .object(let members)):
                guard let next = members[name] else { return nil }
                current = next
            case (.index(let position), .array(let items)):
                guard position < items.count else { return nil }
                current = items[position]
            default:
                return nil
            }
        }
        return current
    }
}
