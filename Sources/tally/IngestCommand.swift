import ArgumentParser
import Foundation
import TallyCore

/// `tally ingest FILE`: sends CloudEvents from a JSON-lines file or a JSON array, in batches.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "Send CloudEvents from a file (JSON lines or a JSON array).")

    @Argument(help: "File with one CloudEvent per line, or a JSON array of CloudEvents.")
    var file: String
    @Option(help: "Base URL of the Tally API.")
    var url = "http://127.0.0.1:8080"
    @Option(help: "API key, if the node requires one.")
    var apiKey: String?
    @Option(help: "Events per request.")
    var batchSize = 500

    func run() async throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let events = try Self.events(in: text)
        let client = APIClient(baseURL: url, apiKey: apiKey)
        var sent = 0
        var failedBatches = 0
        let started = Date()
        for start in stride(from: 0, to: events.count, by: max(1, batchSize)) {
            let batch = Array(events[start..<min(events.count, start + max(1, batchSize))])
            let response = try await client.send(
                .POST, "/api/v1/events", contentType: "application/cloudevents-batch+json",
                body: JSONWriter.bytes(.array(batch)))
            if response.status == 204 {
                sent += batch.count
            } else {
                failedBatches += 1
                FileHandle.standardError.write(
                    Data("\nbatch at event \(start) rejected (\(response.status)): \(response.body)\n".utf8))
            }
            Self.progress(done: start + batch.count, total: events.count)
        }
        let seconds = Date().timeIntervalSince(started)
        print(
            "\nsent \(sent) of \(events.count) events in \(String(format: "%.2f", seconds)) s; "
                + "\(failedBatches) batch(es) rejected"
        )
        if failedBatches > 0 { throw ExitCode(1) }
    }

    /// The events of a JSON array or of JSON lines (blank lines skipped).
    static func events(in text: String) throws -> [JSONValue] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("[") { return try JSONParser.parse(trimmed).arrayValue ?? [] }
        var events: [JSONValue] = []
        for (number, line) in trimmed.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            do { events.append(try JSONParser.parse(String(line))) } catch {
                throw ValidationError("line \(number + 1): \(error)")
            }
        }
        return events
    }

    /// Draws `[#####.....] done/total` on standard error.
    static func progress(done: Int, total: Int) {
        let width = 30
        let filled = total == 0 ? width : done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }
}
