import ArgumentParser
import Foundation
import TallyCore

/// `tally cluster`: change a running cluster through its coordinator.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Change a running cluster through its coordinator.",
        subcommands: [AddWorkerCommand.self, DrainWorkerCommand.self])
}

/// Where `tally cluster` commands reach the coordinator, and with which key.
struct CoordinatorOptions: ParsableArguments {
    @Option(help: "Base URL of the coordinator's API.")
    var coordinator = "http://127.0.0.1:8080"
    @Option(help: "API key (an admin key), if the coordinator requires keys.")
    var apiKey: String?

    var client: APIClient { APIClient(baseURL: coordinator, apiKey: apiKey) }
}

/// `tally cluster drain-worker NAME`: removes a worker through `DELETE /api/v1/cluster/workers/{name}`. Today this
/// undoes the addition of a worker whose move has not reached its clean-up; a worker that owns slots is refused.
struct DrainWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain-worker",
        abstract: "Remove a worker (today: undo the addition of a worker whose move has not reached its clean-up).")

    @Argument(help: "The worker's name.")
    var name: String
    @OptionGroup var options: CoordinatorOptions

    func run() async throws {
        let client = options.client
        let segment = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))
        let path = "/api/v1/cluster/workers/" + (name.addingPercentEncoding(withAllowedCharacters: segment) ?? "")
        let response = try await client.send(.DELETE, path)
        guard response.status == 200, let move = try? JSONParser.parse(response.body) else {
            let detail = (try? JSONParser.parse(response.body))?["detail"]?.stringValue ?? response.body
            throw ValidationError("removing \(name) failed (\(response.status)): \(detail)")
        }
        print("move \(move["id"]?.stringValue ?? "?") cancelled: \(name) is no longer part of the cluster")
    }
}

/// `tally cluster add-worker NAME URL`: adds a worker online and follows the move of slots onto it.
struct AddWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-worker",
        abstract: "Add a worker (started with a certificate from `tally certs issue NAME`) and move slots onto it.")

    @Argument(help: "The new worker's name (the name in its certificate).")
    var name: String
    @Argument(help: "The https:// URL the coordinator and the other workers reach it at.")
    var url: String
    @OptionGroup var options: CoordinatorOptions
    @Flag(help: "Return once the move is planned instead of following it to the end.")
    var noWait = false

    /// Time between two looks at the move's progress.
    static let pollInterval = Duration.milliseconds(500)

    func run() async throws {
        let client = options.client
        let request = JSONWriter.string(.object(["name": .string(name), "url": .string(url)]))
        let response = try await client.send(
            .POST, "/api/v1/cluster/workers", contentType: "application/json", body: Array(request.utf8))
        guard response.status == 202, let move = try? JSONParser.parse(response.body), let id = move["id"]?.stringValue
        else { throw ValidationError("adding \(name) failed (\(response.status)): \(response.body)") }
        print("move \(id): \(move["slots"].map(JSONWriter.string) ?? "?") slots move onto \(name)")
        guard !noWait else { return }
        while true {
            try await Task.sleep(for: AddWorkerCommand.pollInterval)
            let status = try await client.send(.GET, "/api/v1/cluster")
            guard status.status == 200, let json = try? JSONParser.parse(status.body) else {
                throw ValidationError("reading the cluster failed (\(status.status)): \(status.body)")
            }
            guard let current = json["move"], current["id"]?.stringValue == id else {
                print(
                    "\r\(AddWorkerCommand.bar(1))  done: \(name) owns its slots at epoch "
                        + "\(json["epoch"].map(JSONWriter.string) ?? "?")")
                return
            }
            let fraction =
                current["progress"].flatMap { value -> Double? in
                    if case .number(let text) = value { Double(text) } else { nil }
                } ?? 0
            FileHandle.standardOutput.write(Data(AddWorkerCommand.progressLine(current, fraction: fraction).utf8))
        }
    }

    /// The line that follows a move: its bar, phase, events and megabytes copied, pace and time left.
    static func progressLine(_ move: JSONValue, fraction: Double) -> String {
        func number(_ key: String) -> Double? {
            if case .number(let text)? = move[key] { Double(text) } else { nil }
        }
        let megabytes = String(format: "%.1f", (number("bytes") ?? 0) / 1_000_000)
        let rate = String(format: "%.1f", (number("bytesPerSecond") ?? 0) / 1_000_000)
        let eta = number("etaSeconds").map { "ETA \(Int($0)) s" } ?? "ETA -"
        return "\r\(bar(fraction))  \(move["phase"]?.stringValue ?? "?")  \(Int(number("events") ?? 0)) events, "
            + "\(megabytes) MB, \(rate) MB/s, \(eta)   "
    }

    /// A 30-character progress bar with the percentage.
    static func bar(_ fraction: Double) -> String {
        let filled = Int((min(max(fraction, 0), 1) * 30).rounded())
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] "
            + String(format: "%3d%%", Int((fraction * 100).rounded()))
    }
}
