import ArgumentParser
import Foundation
import TallyCore

/// `tally query METER`: prints a meter's usage as a table.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "query", abstract: "Print a meter's usage as a table.")

    @Argument(help: "Meter id or slug.")
    var meter: String
    @Option(help: "Start (RFC 3339, inclusive).")
    var from: String?
    @Option(help: "End (RFC 3339, exclusive).")
    var to: String?
    @Option(help: "Window size: MINUTE, HOUR, DAY or MONTH.")
    var window: String?
    @Option(help: "IANA time zone of the windows.")
    var timeZone: String?
    @Option(help: "Subject filter (repeatable).")
    var subject: [String] = []
    @Option(help: "Group by (repeatable; 'subject' allowed).")
    var groupBy: [String] = []
    @Option(help: "Base URL of the Tally API.")
    var url = "http://127.0.0.1:8080"
    @Option(help: "API key, if the node requires one.")
    var apiKey: String?

    func run() async throws {
        var items: [URLQueryItem] = []
        if let from { items.append(URLQueryItem(name: "from", value: from)) }
        if let to { items.append(URLQueryItem(name: "to", value: to)) }
        if let window { items.append(URLQueryItem(name: "windowSize", value: window)) }
        if let timeZone { items.append(URLQueryItem(name: "windowTimeZone", value: timeZone)) }
        items += subject.map { URLQueryItem(name: "subject", value: $0) }
        items += groupBy.map { URLQueryItem(name: "groupBy", value: $0) }
        var components = URLComponents()
        components.path = "/api/v1/meters/\(meter)/query"
        components.queryItems = items.isEmpty ? nil : items
        let response = try await APIClient(baseURL: url, apiKey: apiKey).send(
            .GET, components.string ?? components.path)
        guard response.status == 200, let rows = try JSONParser.parse(response.body)["data"]?.arrayValue else {
            throw ValidationError("query failed (\(response.status)): \(response.body)")
        }
        let groupNames = groupBy.filter { $0 != "subject" }
        let header = ["window start", "window end", "subject"] + groupNames + ["value"]
        let table = rows.map { row -> [String] in
            let groups = groupNames.map { row["groupBy"]?[$0]?.stringValue ?? "" }
            return [
                row["windowStart"]?.stringValue ?? "", row["windowEnd"]?.stringValue ?? "",
                row["subject"]?.stringValue ?? "",
            ]
                + groups + [row["value"].map(JSONWriter.string) ?? ""]
        }
        print(Self.render([header] + table))
    }

    /// Left-aligned columns separated by two spaces, with a rule under the header.
    static func render(_ lines: [[String]]) -> String {
        guard let first = lines.first else { return "" }
        let widths = first.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        func format(_ cells: [String]) -> String {
            zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([format(first), rule] + lines.dropFirst().map(format)).joined(separator: "\n")
    }
}
