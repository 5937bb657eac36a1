import AsyncHTTPClient
import NIOHTTP1

/// What an entitlement request may change when it is accepted.
public enum EntitlementChange: Sendable, Hashable {
    case nothing
    case feature
    case entitlement
    case grant
    case customer
}

/// A seeded generator of hostile requests for the features, entitlements and grants API: valid bodies with up to
/// three members replaced by odd values (huge and tiny numbers, odd strings and times, intervals of every size,
/// deep nesting, wrong types), odd path keys and odd query parameters. The node it runs against holds the meter
/// `tokens_total`, the features `tokens`, `sso` and `capped` (enforcement `reject`), a metered entitlement of `acme`
/// to `tokens` and one to `capped` with a small grant. Customers, subject upserts and event batches that enforcement
/// judges are generated too.
public struct EntitlementFuzzer {
    var values: RequestFuzzer
    var serial = 0
    /// A valid time inside the current usage periods (the run's start), so that some grants and resets pass.
    let now: String

    public init(seed: UInt64, now: String) {
        values = RequestFuzzer(seed: seed, meters: ["tokens_total"])
        self.now = now
    }

    static let intervals = [
        "\"DAY\"", "\"MONTH\"", "\"P2W\"", "\"PT1H\"", "\"PT59M\"", "\"P300000Y\"", "\"P100Y\"", "\"P101Y\"",
        "\"P999999W\"", "\"PT" + String(repeating: "999999H", count: 3_000) + "\"", "\"P1Y2M3DT4H5M6S\"", "\"P\"",
        "\"MINUTE\"", "1",
    ]
    static let times = [
        "\"2024-01-01T00:00:00Z\"", "\"0001-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"", "\"NOW\"",
        "\"CURRENT_PERIOD_START\"", "\"noon\"", "\"2026-11-28T00:00:00+14:00\"",
    ]
    static let subjects = ["acme", "bob", "%C3%A9", "%00", "a%20b", String(repeating: "x", count: 1100), "%ZZ"]

    /// The next request and what it changes when accepted.
    public mutating func next() -> (FuzzRequest, EntitlementChange) {
        switch Int.random(in: 0..<12, using: &values.random) {
        case 9: return customerRequest()
        case 10: return body("/api/v1/subjects", upsert(), change: .nothing)
        case 11: return body("/api/v1/events", events(), change: .nothing)
        case 0: return body("/api/v1/features", feature(), change: .feature)
        case 1, 2: return body(entitlementsPath(), entitlement(), change: .entitlement)
        case 3, 4:
            let scope = values.pick(["/api/v1/subjects/acme", "/api/v2/customers/acme"])
            return body(scope + "/entitlements/tokens/grants", grant(), change: .grant)
        case 5:
            return body(
                values.pick(["/api/v1/subjects/acme", "/api/v2/customers/acme"]) + "/entitlements/tokens/reset",
                object([
                    ("effectiveAt", values.pick(Self.times + [values.oddJSONValue(), "\"\(now)\""])),
                    ("retainAnchor", values.pick(["true", "false", "1"])),
                    ("preserveOverage", values.pick(["true", "null", "\"yes\""])),
                ]), change: .nothing)
        default: return (query(), .nothing)
        }
    }

    mutating func body(_ path: String, _ text: String, change: EntitlementChange) -> (FuzzRequest, EntitlementChange) {
        let request = FuzzRequest(
            method: .POST, path: path, headers: [("Content-Type", "application/json")], body: Array(text.utf8),
            storedIDs: nil, comparableBody: false)
        return (request, change)
    }

    mutating func entitlementsPath() -> String {
        values.pick(["/api/v1/subjects/", "/api/v2/customers/"]) + values.pick(Self.subjects) + "/entitlements"
    }

    mutating func feature() -> String {
        serial += 1
        return mutated([
            ("key", "\"fz_\(serial)\""), ("name", "\"Fuzz\""), ("meterSlug", "\"tokens_total\""),
            ("meterGroupByFilters", values.pick(["{\"model\":\"m1\"}", "{\"nope\":\"x\"}", "null"])),
            ("enforcement", values.pick(["\"none\"", "\"reject\"", "\"maybe\""])),
        ])
    }

    mutating func entitlement() -> String {
        switch Int.random(in: 0..<3, using: &values.random) {
        case 0:
            return mutated([
                ("type", "\"metered\""), ("featureKey", values.pick(["\"tokens\"", "\"sso\"", "\"nope\""])),
                ("usagePeriod", "{\"interval\":\(values.pick(Self.intervals)),\"anchor\":\(values.pick(Self.times))}"),
                ("measureUsageFrom", values.pick(Self.times)),
                ("issueAfterReset", values.pick(["10", "0", "-1"] + RequestFuzzer.oddNumbers)),
                ("issueAfterResetPriority", values.pick(["1", "255", "256", "0"])),
                ("isSoftLimit", values.pick(["true", "false", "\"x\""])),
            ])
        case 1:
            return mutated([
                ("type", "\"static\""), ("featureKey", "\"sso\""),
                (
                    "config",
                    values.pick([
                        "\"{}\"", "\"{nope\"", "\"[1,2]\"", "{}", "\"" + String(repeating: "[", count: 40) + "\"",
                    ])
                ),
            ])
        default:
            return mutated([("type", values.pick(["\"boolean\"", "\"unknown\""])), ("featureId", "\"sso\"")])
        }
    }

    mutating func grant() -> String {
        // One in five is valid as it is, so every run creates grants whatever the seed.
        if values.chance(20) { return #"{"amount":\#(values.pick(["5", "0.5", "100"])),"effectiveAt":"\#(now)"}"# }
        return mutated(
            [
                ("amount", values.pick(["100", "0.5", "0", "-5"] + RequestFuzzer.oddNumbers)),
                ("priority", values.pick(["1", "0", "255", "256", "1.5"])),
                ("effectiveAt", values.chance(60) ? "\"\(now)\"" : values.pick(Self.times)),
                (
                    "expiration",
                    "{\"duration\":\(values.pick(["\"YEAR\"", "\"HOUR\"", "\"DECADE\""])),"
                        + "\"count\":\(values.pick(["1", "1000", "1001", "0", "99999999999999999999"]))}"
                ),
                ("maxRolloverAmount", values.pick(["10", "-1", "1e400"])),
            ]
                + (values.chance(30)
                    ? [
                        (
                            "recurrence",
                            "{\"interval\":\(values.pick(Self.intervals)),\"anchor\":\(values.pick(Self.times))}"
                        )
                    ] : []))
    }

    mutating func customer() -> String {
        serial += 1
        if values.chance(20) {
            return #"{"name":"Fuzz \#(serial)","usageAttribution":{"subjectKeys":["cs_\#(serial)"]}}"#
        }
        let subjects = values.pick([
            #"["cs_\#(serial)"]"#, #"["acme"]"#, #"["x","x"]"#, "[]", #"[""]"#, #"["a\u0000b"]"#,
            "[" + Array(repeating: #""s""#, count: 101).joined(separator: ",") + "]",
        ])
        return mutated([
            ("name", values.pick([#""Fuzz Co""#, #""""#, "\"" + String(repeating: "n", count: 257) + "\""])),
            ("key", values.pick([#""cust_\#(serial)""#, #""acme""#, #""01JQ0000000000000000000000""#, "null"])),
            ("usageAttribution", values.chance(80) ? #"{"subjectKeys":\#(subjects)}"# : values.oddJSONValue()),
            ("currency", values.pick([#""USD""#, #""usd""#, #""EURO""#])),
            ("primaryEmail", values.pick([#""a@b.c""#, #""nope""#])),
            ("metadata", values.pick([#"{"tier":"gold"}"#, #"{"n":1}"#])),
        ])
    }

    mutating func customerRequest() -> (FuzzRequest, EntitlementChange) {
        guard values.chance(70) else {
            let target = "/api/v1/customers/" + values.pick(["cust_1", "acme"] + Self.subjects)
            let method: HTTPMethod = values.pick([.PUT, .DELETE, .GET])
            let text = method == .PUT ? customer() : ""
            let request = FuzzRequest(
                method: method, path: target, headers: [("Content-Type", "application/json")],
                body: Array(text.utf8), storedIDs: nil, comparableBody: false)
            return (request, .nothing)
        }
        return body("/api/v1/customers", customer(), change: .customer)
    }

    mutating func upsert() -> String {
        let items = (0..<Int.random(in: 0...3, using: &values.random)).map { _ in
            mutated([
                ("key", values.pick([#""up_\#(serial)""#, #""acme""#, #""""#, "7"])),
                ("displayName", values.pick([#""Up""#, "null", "[]"])), ("metadata", #"{"a":"b"}"#),
            ])
        }
        return values.chance(90) ? "[" + items.joined(separator: ",") + "]" : values.oddJSONValue()
    }

    /// A batch of `acme`'s (or `bob`'s) events: `acme`'s `capped` entitlement refuses them once its grant is spent.
    mutating func events() -> String {
        let events = (0..<Int.random(in: 1...3, using: &values.random)).map { _ -> String in
            serial += 1
            let tokens = values.pick(["1", "7", "0.5", "-3", "1e30", #""many""#] + RequestFuzzer.oddNumbers)
            return #"{"id":"fz\#(serial)","source":"fuzz","specversion":"1.0","type":"prompt","#
                + #""subject":"\#(values.pick(["acme", "bob"]))","time":"\#(now)","data":{"tokens":\#(tokens)}}"#
        }
        return "[" + events.joined(separator: ",") + "]"
    }

    /// The members, some dropped and up to three replaced by odd values.
    mutating func mutated(_ members: [(String, String)]) -> String {
        var members = members.filter { _ in values.chance(85) }
        for _ in 0..<Int.random(in: 0...3, using: &values.random) where !members.isEmpty {
            let index = Int.random(in: 0..<members.count, using: &values.random)
            members[index].1 = values.oddJSONValue()
        }
        return object(members)
    }

    func object(_ members: [(String, String)]) -> String { RequestFuzzer.object(members) }

    mutating func query() -> FuzzRequest {
        let scope = values.pick(["/api/v1/subjects/", "/api/v2/customers/"]) + values.pick(Self.subjects)
        let time = values.pick([
            "2024-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "x", "2026-11-28T10:00:00.5Z",
        ])
        let path = values.pick([
            scope + "/entitlements/tokens/value?time=" + time,
            scope + "/entitlements/" + values.pick(["tokens", "sso", "nope", "%00"]) + "/value",
            scope + "/entitlements/tokens/history?windowSize=" + values.pick(["DAY", "MINUTE", "WEEK", ""]) + "&from="
                + time + "&windowTimeZone="
                + values.pick(["UTC", "Mars/Olympus", "Asia/Kolkata%00", "America/New_York"]),
            scope + "/entitlements?includeDeleted=" + values.pick(["true", "no"]),
            "/api/v1/entitlements?page=" + values.pick(["0", "1", "99999999999999999999"]) + "&limit="
                + values.pick(["1", "0", "1001"]),
            "/api/v1/grants?order=" + values.pick(["ASC", "DESC", "sideways"]) + "&subject=acme",
            "/api/v1/features?orderBy=" + values.pick(["key", "createdAt", "nope"]) + "&includeArchived="
                + values.pick(["true", "x"]),
            "/api/v1/customers/" + values.pick(Self.subjects) + "/entitlements/tokens/value?time=" + time,
        ])
        let method: HTTPMethod =
            path.contains("value") || path.contains("history") || values.chance(80) ? .GET : .DELETE
        let target =
            method == .DELETE
            ? "/api/v1/grants/" + values.pick(["nope", "%00", "01JQ0000000000000000000000"])
                + "?at=" + time : path
        return FuzzRequest(
            method: method, path: RequestFuzzer.encodedQuery(target), headers: [], body: nil, storedIDs: nil,
            comparableBody: false)
    }
}

extension RequestFuzzer {
    /// `path?query` with the query's parameters encoded (`encodedParameter`).
    static func encodedQuery(_ target: String) -> String {
        guard let mark = target.firstIndex(of: "?") else { return target }
        let parameters = target[target.index(after: mark)...].split(separator: "&").map { encodedParameter(String($0)) }
        return String(target[..<mark]) + "?" + parameters.joined(separator: "&")
    }
}
