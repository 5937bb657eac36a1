import Foundation
import Hummingbird
import HummingbirdCore
import TallyCore

/// Path and query parameters as the entitlement and notification routes read them, each with its bound.
public enum RouteParameters {
    /// The `customer` path parameter (a subject key or customer key).
    static func customer(_ context: some RequestContext) throws -> String {
        try parameter(context, "customer")
    }

    /// A path parameter, percent-decoded: 1–`InputLimits.maxIdentifierBytes` bytes without control characters (ids
    /// and keys never hold them, and a NUL would cut the text SQLite compares).
    public static func parameter(_ context: some RequestContext, _ name: String) throws -> String {
        let raw = context.parameters.get(name) ?? ""
        guard let value = raw.removingPercentEncoding else {
            throw Problem.invalidField(name, "must be percent-encoded UTF-8")
        }
        guard InputLimits.isValidKey(value) else {
            throw Problem.invalidField(
                name, "must be 1–\(InputLimits.maxIdentifierBytes) bytes without control characters")
        }
        return value
    }

    /// A `time`-like parameter: now when absent; rounded up to the minute (values) or down (voids).
    static func time(_ text: Substring?, rounding: FloatingPointRoundingRule = .up) throws -> Timestamp {
        let instant: Timestamp
        if let text {
            guard let parsed = Timestamp(rfc3339: text) else {
                throw Problem.invalidField("time", "must be an RFC 3339 date-time within years 0001–9999")
            }
            instant = parsed
        } else {
            instant = .now
        }
        return rounding == .up ? instant.minuteCeiling : instant.minuteFloor
    }

    static func flag(_ parameters: FlatDictionary<Substring, Substring>, _ name: String) throws -> Bool? {
        switch parameters[Substring(name)] {
        case nil: nil
        case "true": true
        case "false": false
        default: throw Problem.invalidField(name, "must be true or false")
        }
    }

    /// A page object whatever the parameters (the v2 lists).
    static func page(_ items: [JSONValue], _ parameters: FlatDictionary<Substring, Substring>) throws -> Response {
        var forced = parameters
        if forced["page"] == nil && forced["pageSize"] == nil { forced["page"] = "1" }
        return try LegacyPaging.response(items, forced)
    }
}
