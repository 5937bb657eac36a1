import Hummingbird
import HummingbirdCore
import TallyCore
import TallyStore

/// Parameters and rendering of `GET /api/v1/events` (upstream `IngestedEvent` list).
public enum EventListing {
    /// How far back the listing looks when `from` is not given, in seconds (upstream: 72 hours).
    public static let defaultListWindowSeconds: Int64 = 72 * 3600

    /// The filter named by the query parameters; every invalid parameter is reported.
    public static func filter(
        _ parameters: FlatDictionary<Substring, Substring>, now: Timestamp = .now
    ) throws -> EventFilter {
        var errors: [FieldError] = []
        func time(_ name: String) -> Timestamp? {
            guard let text = parameters[Substring(name)] else { return nil }
            guard let value = Timestamp(rfc3339: text) else {
                errors.append(FieldError(field: name, reason: "must be an RFC 3339 date-time"))
                return nil
            }
            return value
        }
        var filter = EventFilter(
            from: time("from") ?? Timestamp(micros: now.micros - defaultListWindowSeconds * Timestamp.microsPerSecond))
        filter.to = time("to")
        filter.ingestedAtFrom = time("ingestedAtFrom")
        filter.ingestedAtTo = time("ingestedAtTo")
        filter.id = parameters["id"].map(String.init)
        filter.subject = parameters["subject"].map(String.init)
        if let limit = parameters["limit"] {
            if let value = Int(limit), (1...EventFilter.maxLimit).contains(value) {
                filter.limit = value
            } else {
                errors.append(
                    FieldError(field: "limit", reason: "must be an integer from 1 to \(EventFilter.maxLimit)"))
            }
        }
        if !parameters[values: "customerId"].isEmpty {
            errors.append(
                FieldError(field: "customerId", reason: "Tally has no customer entities; filter by subject instead"))
        }
        guard errors.isEmpty else { throw Problem.invalid("invalid event listing parameters", errors) }
        return filter
    }

    /// The query parameters that name `filter` again (values percent-encoded), for forwarding a listing.
    public static func parameters(_ filter: EventFilter) -> String {
        var items = [("from", filter.from.description), ("limit", String(filter.limit))]
        if let to = filter.to { items.append(("to", to.description)) }
        if let from = filter.ingestedAtFrom { items.append(("ingestedAtFrom", from.description)) }
        if let to = filter.ingestedAtTo { items.append(("ingestedAtTo", to.description)) }
        if let id = filter.id { items.append(("id", id)) }
        if let subject = filter.subject { items.append(("subject", subject)) }
        return items.map { "\($0.0)=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// `text` with every byte but RFC 3986 unreserved characters percent-encoded.
    public static func percentEncoded(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return encoded
    }

    /// The JSON list of `events`, with per-meter validation errors.
    public static func json(_ events: [IngestedEvent]) -> JSONValue {
        .array(
            events.map { item in
                var members: JSONObject = [
                    "event": item.event.receivedForm,
                    "ingestedAt": .string(item.ingestedAt.description),
                    "storedAt": .string(item.ingestedAt.description),
                ]
                if !item.validationErrors.isEmpty {
                    members["validationError"] = .string(item.validationErrors.joined(separator: "; "))
                    members["validationErrors"] = .array(
                        item.validationErrors.map { .object(["message": .string($0)]) })
                }
                return .object(members)
            })
    }
}
