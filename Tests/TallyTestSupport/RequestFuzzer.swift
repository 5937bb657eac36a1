import NIOHTTP1
import TallyCore

/// One generated request and what accepting it would store.
public struct FuzzRequest: Sendable {
    public var method: HTTPMethod
    public var path: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// The de-duplication keys (source, id, subject) of the body's events when all of them are valid and the
    /// request would store them (nil for requests that store nothing).
    public var storedIDs: Set<Identifier>?
    /// Whether two live servers must give byte-identical answers (false when "now" or ids the server generates
    /// shape the answer).
    public var comparableBody: Bool
}

/// A seeded generator of hostile requests for the public API: mutations of valid events, batches, meters and
/// queries (wrong types, missing fields, numbers with hundreds of digits, exponents, deep nesting, invalid UTF-8,
/// huge strings, odd Unicode, duplicate keys, wrong or malformed content types and headers, out-of-range
/// parameters). Events use the type `fuzz`, which no meter counts; meter bodies are always invalid, so the only
/// state a request can change is the raw events of an all-valid batch, which `storedIDs` names.
public struct RequestFuzzer {
    var random: SplitMix64
    var serial = 0
    let meters: [String]

    public init(seed: UInt64, meters: [String]) {
        random = SplitMix64(seed: seed)
        self.meters = meters
    }

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

    static let oddStrings = [
        "", " ", "\u{e9}", "e\u{301}", "\u{0}", "\u{202e}evil", "😀", String(repeating: "x", count: 1100),
        String(repeating: "ü", count: 700), "a\"b\\c", "\u{feff}", "../../etc/passwd", "%00", "Asia/Kolkata%00",
    ]
    static let oddNumbers = [
        "1e29", "-1e29", "1e400", "1" + String(repeating: "0", count: 300),
        "0." + String(repeating: "0", count: 300) + "1",
        "1e-10", "-0", "0.0000000001", "170141183460469231731687303715884105727", "1E+5", "1000000000000000000",
        "-1000000000000000001", "12.3456789012",
    ]

    mutating func oddJSONValue(depth: Int = 0) -> String {
        switch Int.random(in: 0..<8, using: &random) {
        case 0: return pick(Self.oddNumbers)
        case 1: return "\"" + jsonEscaped(pick(Self.oddStrings)) + "\""
        case 2: return pick(["true", "false", "null"])
        case 3: return "[" + (depth < 3 ? oddJSONValue(depth: depth + 1) : "1") + "]"
        case 4: return "{\"a\":" + (depth < 3 ? oddJSONValue(depth: depth + 1) : "1") + ",\"a\":2}"
        case 5 where depth == 0: return nested(depth: Int.random(in: 28...70, using: &random))
        case 6:
            return "\"" + pick(["2024-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:60-01:00", "noon"])
                + "\""
        default: return String(Int.random(in: -1000...1000, using: &random))
        }
    }

    func nested(depth: Int) -> String {
        String(repeating: "{\"n\":", count: depth) + "1" + String(repeating: "}", count: depth)
    }

    func jsonEscaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// An event's members after up to two mutations; `valid` tells whether it is still a valid event.
    mutating func event() -> (members: [(String, String)], key: Identifier?) {
        serial += 1
        let id = "fz-\(serial)"
        var members: [(String, String)] = [
            ("id", "\"\(id)\""), ("source", "\"fuzz\""), ("specversion", "\"1.0\""), ("type", "\"fuzz\""),
            ("subject", "\"" + jsonEscaped(pick(["c1", "c2", "\u{e9}", "e\u{301}", "z"])) + "\""),
            ("time", "\"2024-01-01T00:0\(Int.random(in: 0...9, using: &random)):00Z\""),
            ("data", "{\"tokens\":" + pick(["1", "2.5", "\"3\""] + Self.oddNumbers) + "}"),
        ]
        for _ in 0..<Int.random(in: 0...2, using: &random) {
            let index = Int.random(in: 0..<members.count, using: &random)
            let name = members[index].0
            switch Int.random(in: 0..<6, using: &random) {
            case 0: members.remove(at: index)
            case 1: members[index].1 = oddJSONValue()
            case 2: members.append((name, pick(["\"dup\"", "\"1.0\"", "null"])))
            case 3: members[index].1 = "\"" + jsonEscaped(pick(Self.oddStrings)) + "\""
            case 4: members.append((pick(["ext", "datacontenttype", "dataschema"]), oddJSONValue()))
            default: members[index].1 = "{\"nested\":" + nested(depth: Int.random(in: 30...40, using: &random)) + "}"
            }
        }
        return (members, Self.validEventKey(Self.object(members)))
    }

    /// Times the generator writes that are valid RFC 3339 instants in years 0001–9999.
    static let validTimes: Set<String> = Set((0...9).map { "2024-01-01T00:0\($0):00Z" } + ["2024-01-01T00:00:00Z"])

    /// The generator's own reading of CloudEvents 1.0 as Tally accepts it (only parsing and depth are shared):
    /// nesting at most 32, required non-empty string attributes of at most 1024 bytes, `specversion` "1.0", a
    /// known valid time, an object or null `data`, and the optional attributes' types. Repeated members: last wins.
    /// Returns the event's de-duplication key (source, id, subject) when it is valid.
    static func validEventKey(_ text: String) -> Identifier? {
        guard let json = try? JSONParser.parse(text), case .object(let members) = json, json.nestingDepth <= 32 else {
            return nil
        }
        var parts: [String] = []
        for name in ["source", "id", "subject", "type"] {
            guard case .string(let value)? = members[name], !value.isEmpty, value.utf8.count <= 1024 else { return nil }
            parts.append(value)
        }
        guard members["specversion"] == .string("1.0") else { return nil }
        switch members["time"] {
        case nil, .null?: break
        case .string(let time)?: guard validTimes.contains(time) else { return nil }
        default: return nil
        }
        switch members["data"] {
        case nil, .null?, .object?: break
        default: return nil
        }
        switch members["datacontenttype"] {
        case nil, .null?, .string("application/json")?: break
        default: return nil
        }
        switch members["dataschema"] {
        case nil, .null?, .string?: return Identifier(parts[0..<3].joined(separator: "\u{1F}"))
        default: return nil
        }
    }

    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// The next request.
    public mutating func next() -> FuzzRequest {
        switch Int.random(in: 0..<10, using: &random) {
        case 0...3: return ingest()
        case 4: return rawBytes()
        case 5: return meterMutation()
        case 6...7: return query()
        case 8: return listing()
        default: return oddRoute()
        }
    }

    mutating func ingest() -> FuzzRequest {
        let count = Int.random(in: 1...6, using: &random)
        var events: [String] = []
        var keys = Set<Identifier>()
        var allValid = true
        for _ in 0..<count {
            let (members, key) = event()
            events.append(Self.object(members))
            if let key { keys.insert(key) } else { allValid = false }
        }
        let single = count == 1 && chance(50)
        let contentType = pick([
            "application/json", "application/cloudevents-batch+json", "application/cloudevents+json",
            "application/json; charset=utf-8", "text/plain", ";", "", "application/json;;;",
        ])
        let body = single ? events[0] : "[" + events.joined(separator: ",") + "]"
        let shapeOK: Bool
        switch contentType {
        case "application/cloudevents-batch+json": shapeOK = !single
        case "application/cloudevents+json": shapeOK = single
        case "application/json", "application/json; charset=utf-8", "application/json;;;": shapeOK = true
        default: shapeOK = false
        }
        return FuzzRequest(
            method: .POST, path: "/api/v1/events", headers: [("Content-Type", contentType)], body: Array(body.utf8),
            storedIDs: allValid && shapeOK ? keys : nil, comparableBody: true)
    }

    mutating func rawBytes() -> FuzzRequest {
        var bytes = Array("[{\"id\":\"".utf8)
        for _ in 0..<Int.random(in: 1...40, using: &random) { bytes.append(UInt8.random(in: 0...255, using: &random)) }
        bytes += Array("\"}]".utf8)
        if chance(30) { bytes = Array(String(repeating: "[", count: Int.random(in: 60...200, using: &random)).utf8) }
        if chance(20) { bytes = Array(("[" + String(repeating: "9", count: 5000) + "]").utf8) }
        return FuzzRequest(
            method: .POST, path: pick(["/api/v1/events", "/api/v1/meters"]),
            headers: [("Content-Type", "application/json")], body: bytes, storedIDs: nil, comparableBody: true)
    }

    mutating func meterMutation() -> FuzzRequest {
        var members: [(String, String)] = [
            (
                "slug",
                "\"" + jsonEscaped(pick(["Bad Slug", "", "a__b", String(repeating: "a", count: 65), "\u{e9}", "_x"]))
                    + "\""
            ),
            ("aggregation", "\"" + pick(["SUM", "COUNT", "sum", "MEDIAN", ""]) + "\""),
            ("eventType", pick(["\"fuzz\"", "1", "null", "\"" + String(repeating: "t", count: 1100) + "\""])),
        ]
        if chance(50) { members.append(("valueProperty", pick(["\"$.tokens\"", "\"tokens\"", "\"$[\"", "5"]))) }
        if chance(40) {
            members.append(("groupBy", pick(["{\"subject\":\"$.s\"}", "{\"a b\":\"$.x\"}", "[]", "{\"m\":\"$.m\"}"])))
        }
        if chance(30) {
            members.append(
                ("eventFrom", "\"" + pick(["0000-01-01T00:00:00Z", "yesterday", "2024-01-01T00:00:00Z"]) + "\""))
        }
        let path = chance(70) ? "/api/v1/meters" : "/api/v1/meters/" + pick(meters + ["nope", "%00", "%C3%A9"])
        let method: HTTPMethod = path == "/api/v1/meters" ? .POST : pick([.PUT, .DELETE, .GET])
        let body = Self.object(members)
        if method == .DELETE, meters.contains(where: { path.hasSuffix("/" + $0) }) {
            return FuzzRequest(method: .GET, path: path, headers: [], body: nil, storedIDs: nil, comparableBody: false)
        }
        if method == .PUT, meters.contains(where: { path.hasSuffix("/" + $0) }) {
            return FuzzRequest(
                method: .PUT, path: path, headers: [("Content-Type", "application/json")],
                body: Array(Self.object([("aggregation", "\"MAX\""), ("slug", "\"other\"")]).utf8), storedIDs: nil,
                comparableBody: true)
        }
        return FuzzRequest(
            method: method, path: path, headers: [("Content-Type", "application/json")],
            body: method == .GET || method == .DELETE ? nil : Array(body.utf8), storedIDs: nil,
            comparableBody: false)
    }

    mutating func query() -> FuzzRequest {
        var parameters: [String] = []
        let hasTo = chance(80)
        if chance(80) {
            parameters.append(
                "from="
                    + pick([
                        "2024-01-01T00:00:00Z", "2024-01-01T00:00:30Z", "0000-01-01T00:00:00Z",
                        "2024-13-01T00:00:00Z", "x", "9999-12-31T23:59:59Z",
                    ]))
        }
        if hasTo {
            parameters.append(
                "to="
                    + pick([
                        "2024-01-02T00:00:00Z", "2024-01-01T00:05:30Z", "9999-12-31T23:59:59Z",
                        "1999-01-01T00:00:00Z", "10000-01-01T00:00:00Z",
                    ]))
        }
        if chance(50) { parameters.append("windowSize=" + pick(["MINUTE", "HOUR", "DAY", "MONTH", "YEAR", "minute"])) }
        if chance(30) {
            parameters.append(
                "windowTimeZone="
                    + pick([
                        "UTC", "America/New_York", "Asia/Kolkata%00", "Mars/Base",
                        "..%2F..", String(repeating: "A", count: 200),
                    ]))
        }
        for _ in 0..<Int.random(in: 0...2, using: &random) {
            parameters.append("groupBy=" + pick(["subject", "model", "nope", "%C3%A9"]))
        }
        for _ in 0..<Int.random(in: 0...2, using: &random) {
            parameters.append("subject=" + pick(["c1", "%C3%A9", "e%CC%81", ""]))
        }
        if chance(20) { parameters.append("filterGroupBy[model]=" + pick(["gpt", "%C3%A9"])) }
        if chance(10) { parameters.append("filterGroupBy=" + pick(["{'model':'gpt'}", "{", "[1]"])) }
        if chance(10) {
            parameters.append(
                "advancedMeterGroupByFilters="
                    + pick(["{\"model\":{\"$eq\":\"gpt\"}}", "{\"model\":{\"$gt\":1}}", "x"]))
        }
        if chance(10) { parameters.append("filterCustomerId=x") }
        let slug = chance(90) ? pick(meters) : pick(["nope", "%00"])
        let path = "/api/v1/meters/\(slug)/query?" + parameters.map(Self.encodedParameter).joined(separator: "&")
        let accept = chance(20) ? [("Accept", "text/csv")] : []
        return FuzzRequest(method: .GET, path: path, headers: accept, body: nil, storedIDs: nil, comparableBody: hasTo)
    }

    /// `name=value` with every byte but unreserved characters, `=` (the first) and existing `%` escapes encoded.
    static func encodedParameter(_ parameter: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%".utf8)
        var encoded = ""
        var seenEquals = false
        for byte in parameter.utf8 {
            if byte == UInt8(ascii: "="), !seenEquals {
                seenEquals = true
                encoded += "="
            } else if unreserved.contains(byte) {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                encoded += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return encoded
    }

    mutating func listing() -> FuzzRequest {
        let path = pick([
            "/api/v1/meters?page=" + pick(["0", "1", "2305843009213693953", "-1", "x", "1000001"]) + "&pageSize="
                + pick(["0", "5", "1001", "99999999999999999999"]),
            "/api/v1/meters?order=" + pick(["ASC", "DESC", "up"]) + "&orderBy=" + pick(["key", "name", "nope"]),
            "/api/v1/events?limit=" + pick(["0", "1", "101", "x"]) + "&from="
                + pick(["2020-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "bad"]),
            "/api/v1/meters/" + pick(meters) + "/subjects?from=" + pick(["2024-01-01T00:00:00Z", "bad"]),
        ])
        return FuzzRequest(
            method: .GET, path: path, headers: [], body: nil, storedIDs: nil,
            comparableBody: path.contains("/subjects"))
    }

    mutating func oddRoute() -> FuzzRequest {
        let method: HTTPMethod = pick([.PATCH, .DELETE, .PUT, .OPTIONS, .GET])
        let path = pick([
            "/api/v1/events", "/api/v1/subjects", "/api/v1/meters/" + pick(meters) + "/query", "/api/v2/x", "/healthz/",
            "//api/v1/meters",
        ])
        let headers = pick([[], [("Authorization", "bearer junk")], [("Accept", "*/*;q=x")], [("Content-Type", ";")]])
        return FuzzRequest(
            method: method, path: path, headers: headers, body: nil, storedIDs: nil, comparableBody: false)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
