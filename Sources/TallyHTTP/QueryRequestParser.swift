import Foundation
import Hummingbird
import HummingbirdCore
import TallyCore
import TallyStore

/// Reads a meter query from `GET` query parameters or a `POST` `MeterQueryRequest` body.
public enum QueryRequestParser {
    /// From query parameters: `from`, `to`, `windowSize`, `windowTimeZone`, repeated `subject` and `groupBy`,
    /// `filterGroupBy[name]=value` (deepObject; a JSON or Python-style object is also read, as the official
    /// Python client sends one), and `advancedMeterGroupByFilters` (JSON, `$eq` and `$in`).
    public static func parse(parameters: FlatDictionary<Substring, Substring>) throws -> MeterQuery {
        var errors: [FieldError] = []
        var query = MeterQuery()
        query.from = time(parameters["from"], field: "from", errors: &errors)
        query.to = time(parameters["to"], field: "to", errors: &errors)
        query.windowSize = windowSize(parameters["windowSize"].map(String.init), errors: &errors)
        if let zone = parameters["windowTimeZone"] { query.windowTimeZone = String(zone) }
        query.subjects = parameters[values: "subject"].map(String.init)
        query.groupBy = parameters[values: "groupBy"].map(String.init)
        if !parameters[values: "filterCustomerId"].isEmpty { errors.append(unsupportedCustomerFilter) }
        for (rawKey, value) in parameters {
            let key = rawKey.removingPercentEncoding ?? String(rawKey)
            if key.hasPrefix("filterGroupBy["), key.hasSuffix("]") {
                query.filterGroupBy[String(key.dropFirst("filterGroupBy[".count).dropLast()), default: []].append(
                    String(value))
            } else if key == "filterGroupBy" {
                let normalized = value.replacingOccurrences(of: "'", with: "\"")
                guard case .object(let members)? = try? JSONParser.parse(normalized) else {
                    errors.append(
                        FieldError(field: "filterGroupBy", reason: "use filterGroupBy[name]=value or a JSON object"))
                    continue
                }
                for (name, member) in members {
                    guard let text = member.stringValue else {
                        errors.append(FieldError(field: "filterGroupBy.\(name.echoed)", reason: "must be a string"))
                        continue
                    }
                    query.filterGroupBy[name, default: []].append(text)
                }
            }
        }
        if let advanced = parameters["advancedMeterGroupByFilters"] {
            if let json = try? JSONParser.parse(String(advanced)) {
                addAdvancedFilters(json, to: &query, errors: &errors)
            } else {
                errors.append(FieldError(field: "advancedMeterGroupByFilters", reason: "must be a JSON object"))
            }
        }
        guard errors.isEmpty else { throw Problem.invalid("invalid query parameters", errors) }
        return query
    }

    /// From a `MeterQueryRequest` JSON body.
    public static func parse(body: JSONValue) throws -> MeterQuery {
        guard case .object(let members) = body else { throw Problem.invalidField("body", "must be a JSON object") }
        var errors: [FieldError] = []
        var query = MeterQuery()
        query.from = time(members["from"]?.stringValue.map { Substring($0) }, field: "from", errors: &errors)
        query.to = time(members["to"]?.stringValue.map { Substring($0) }, field: "to", errors: &errors)
        query.windowSize = windowSize(members["windowSize"]?.stringValue, errors: &errors)
        if let zone = members["windowTimeZone"]?.stringValue { query.windowTimeZone = zone }
        query.subjects = strings(members["subject"], field: "subject", errors: &errors)
        query.groupBy = strings(members["groupBy"], field: "groupBy", errors: &errors)
        if members["filterCustomerId"].map({ $0 != .null && $0 != .array([]) }) == true {
            errors.append(unsupportedCustomerFilter)
        }
        if case .object(let filters)? = members["filterGroupBy"] {
            for (name, values) in filters {
                query.filterGroupBy[name] =
                    values.stringValue.map { [$0] } ?? strings(values, field: "filterGroupBy.\(name)", errors: &errors)
            }
        }
        if let advanced = members["advancedMeterGroupByFilters"] {
            addAdvancedFilters(advanced, to: &query, errors: &errors)
        }
        guard errors.isEmpty else { throw Problem.invalid("invalid query", errors) }
        return query
    }

    /// The query to run for `requested` on `meter`: `to` fixed to now when absent (so every shard cuts the
    /// range at the same instant), validated, with its window calendar. Throws a 400 problem listing every error.
    public static func prepared(
        _ requested: MeterQuery, for meter: MeterDefinition, now: Timestamp = .now
    ) throws -> (MeterQuery, WindowCalendar) {
        var query = requested
        query.to = query.to ?? now
        switch query.validate(for: meter) {
        case .failure(let failure): throw Problem.invalid("invalid query", failure.errors)
        case .success(let calendar): return (query, calendar)
        }
    }

    /// The `from` and `to` parameters of a listing such as `GET /api/v1/meters/{m}/subjects`.
    public static func range(
        _ parameters: FlatDictionary<Substring, Substring>
    ) throws -> (from: Timestamp?, to: Timestamp?) {
        var errors: [FieldError] = []
        let range = (
            time(parameters["from"], field: "from", errors: &errors),
            time(parameters["to"], field: "to", errors: &errors)
        )
        guard errors.isEmpty else { throw Problem.invalid("invalid parameters", errors) }
        return range
    }

    /// Tally has no customer entities yet; silently ignoring the filter would return other customers' usage.
    private static let unsupportedCustomerFilter = FieldError(
        field: "filterCustomerId", reason: "Tally has no customer entities; filter by subject instead")

    private static func time(_ text: Substring?, field: String, errors: inout [FieldError]) -> Timestamp? {
        guard let text else { return nil }
        guard let value = Timestamp(rfc3339: text) else {
            errors.append(
                FieldError(
                    field: field, reason: "must be an RFC 3339 date-time in years 0001–9999, got \"\(text.echoed)\""))
            return nil
        }
        return value
    }

    private static func windowSize(_ text: String?, errors: inout [FieldError]) -> WindowSize? {
        guard let text else { return nil }
        guard let size = WindowSize(rawValue: text) else {
            errors.append(
                FieldError(
                    field: "windowSize", reason: "must be one of MINUTE, HOUR, DAY, MONTH, got \"\(text.echoed)\""))
            return nil
        }
        return size
    }

    private static func strings(_ value: JSONValue?, field: String, errors: inout [FieldError]) -> [String] {
        guard let value, value != .null else { return [] }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            errors.append(FieldError(field: field, reason: "must be an array of strings"))
            return []
        }
        return items.compactMap(\.stringValue)
    }

    private static func addAdvancedFilters(_ json: JSONValue, to query: inout MeterQuery, errors: inout [FieldError]) {
        guard case .object(let filters) = json else {
            errors.append(FieldError(field: "advancedMeterGroupByFilters", reason: "must be a JSON object"))
            return
        }
        for (name, filter) in filters {
            let field = "advancedMeterGroupByFilters.\(name.echoed)"
            guard case .object(let operators) = filter else {
                errors.append(FieldError(field: field, reason: "must be an object such as {\"$eq\": \"value\"}"))
                continue
            }
            for (op, operand) in operators {
                switch op {
                case "$eq":
                    guard let text = operand.stringValue else {
                        errors.append(FieldError(field: field, reason: "$eq takes a string"))
                        continue
                    }
                    query.filterGroupBy[name, default: []].append(text)
                case "$in":
                    query.filterGroupBy[name, default: []].append(
                        contentsOf: strings(operand, field: field, errors: &errors))
                default:
                    errors.append(
                        FieldError(field: field, reason: "operator \(op.echoed) is not supported; use $eq or $in"))
                }
            }
        }
    }
}
