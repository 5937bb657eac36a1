import Foundation
import HTTPTypes
import Hummingbird
import TallyCore

/// Renders query rows as upstream `MeterQueryResult` JSON or as CSV.
public enum QueryResultRendering {
    public static func json(_ rows: [MeterQueryRow], query: MeterQuery) -> JSONValue {
        var members: JSONObject = ["data": .array(rows.map(row))]
        if let from = query.from { members["from"] = .string(from.description) }
        if let to = query.to { members["to"] = .string(to.description) }
        if let size = query.windowSize { members["windowSize"] = .string(size.rawValue) }
        return .object(members)
    }

    /// CSV when the request accepts `text/csv`, JSON otherwise; `extra` members are added to the JSON object
    /// and, as `Tally-<Name>` headers, to CSV.
    public static func response(
        _ rows: [MeterQueryRow], query: MeterQuery, request: Request, extra: JSONObject = [:]
    ) -> Response {
        if request.headers[.accept]?.contains("text/csv") == true {
            var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8"]
            for (name, value) in extra {
                if let field = HTTPField.Name("Tally-" + name) { headers[field] = JSONWriter.string(value) }
            }
            return Response(
                status: .ok, headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: csv(rows, groupNames: query.meterGroupNames))))
        }
        guard case .object(var members) = json(rows, query: query) else {
            return Response.json(json(rows, query: query))
        }
        for (name, value) in extra { members[name] = value }
        return Response.json(.object(members))
    }

    static func row(_ row: MeterQueryRow) -> JSONValue {
        .object([
            "value": .amount(row.value),
            "windowStart": .string(row.windowStart.description),
            "windowEnd": .string(row.windowEnd.description),
            "subject": row.subject.map(JSONValue.string) ?? .null,
            "groupBy": .object(JSONObject(row.groupBy) { $0.map(JSONValue.string) ?? .null }),
        ])
    }

    /// `window_start,window_end,subject,<group names...>,value`, one line per row, RFC 4180 quoting.
    public static func csv(_ rows: [MeterQueryRow], groupNames: [String]) -> String {
        var lines = [
            (["window_start", "window_end", "subject"] + groupNames + ["value"]).map(field).joined(separator: ",")
        ]
        for row in rows {
            let groups = groupNames.map { name -> String in
                let value: String?? = row.groupBy[name]
                return (value ?? nil) ?? ""
            }
            let cells =
                [row.windowStart.description, row.windowEnd.description, row.subject ?? ""] + groups + [
                    row.value.description
                ]
            lines.append(cells.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    private static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
