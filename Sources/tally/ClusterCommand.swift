import ArgumentParser
import Foundation
import TallyCore

/// `tally cluster`: change a running cluster through its coordinator.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Change a running cluster through its coordinator.",
        subcommands: [AddWorkerCommand.self, DrainWorkerCommand.self])
}

extension APIClient {
    /// `GET /api/v1/cluster`, parsed; throws when the coordinator does not answer it.
    func clusterStatus() async throws -> JSONValue {
        let status = try await send(.GET, "/api/v1/cluster")
        guard status.status == 200, let json = try? JSONParser.parse(status.body) else {
            throw ValidationError("reading the cluster failed (\(status.status)): \(status.body)")
        }
        return json
    }
}

/// Where `tally cluster` commands reach the coordinator, and with which key.
struct CoordinatorOptions: ParsableArguments {
    @Option(help: "Base URL of the coordinator's API.")
    var coordinator = "http://127.0.0.1:8080"
    @Option(help: "API key (an admin key), if the coordinator requires keys.")
    var apiKey: String?

    var client: APIClient { APIClient(baseURL: coordinator, apiKey: apiKey) }
}

/// `tally cluster drain-worker NAME`: removes a worker through `DELETE /api/v1/cluster/workers/{name}`: a worker
/// whose addition has not reached its clean-up is taken out at once; any other is drained (its slots are copied to the
/// other workers, then the cluster switches to the table without it), and the command follows the drain to its end.
struct DrainWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain-worker",
        abstract: "Remove a worker: copy its slots to the other workers, then take it out of the cluster.")

    @Argument(help: "The worker's name.")
    var name: String
    @OptionGroup var options: CoordinatorOptions
    @Flag(help: "Return once the drain is recorded instead of following it to the end.")
    var noWait = false

    func run() async throws {
        let client = options.client
        let segment = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))
        let path = "/api/v1/cluster/workers/" + (name.addingPercentEncoding(withAllowedCharacters: segment) ?? "")
        let response = try await client.send(.DELETE, path)
        let body = try? JSONParser.parse(response.body)
        switch response.status {
        case 200:
            print("move \(body?["id"]?.stringValue ?? "?") cancelled: \(name) is no longer part of the cluster")
            return
        case 202:
            let slots = body?["slots"].map(JSONWriter.string) ?? "?"
            let replicas = body?["replicas"].map(JSONWriter.string) ?? "?"
            print("drain \(body?["id"]?.stringValue ?? "?"): \(name) owns \(slots) slots and replicates \(replicas)")
        default:
            let detail = body?["detail"]?.stringValue ?? response.body
            throw ValidationError("removing \(name) failed (\(response.status)): \(detail)")
        }
        guard !noWait else { return }
        while true {
            try await Task.sleep(for: AddWorkerCommand.pollInterval)
            let json = try await client.clusterStatus()
            guard json["workers"]?.arrayValue?.contains(where: { $0["name"]?.stringValue == name }) == true else {
                print(
                    "\r\(AddWorkerCommand.bar(1))  done: \(name) left the cluster at epoch "
                        + "\(json["epoch"].map(JSONWriter.string) ?? "?")")
                return
            }
            FileHandle.standardOutput.write(Data(DrainWorkerCommand.progressLine(json).utf8))
        }
    }

    /// The line that follows a drain: the move running for it (a repair copying its slots, or the drain itself) with
    /// its bar, and what the worker still holds.
    static func progressLine(_ status: JSONValue) -> String {
        let drain = status["drain"]
        let held =
            "holds \(drain?["slots"].map(JSONWriter.string) ?? "?") slots, "
            + "\(drain?["replicas"].map(JSONWriter.string) ?? "?") replicas"
        guard let move = status["move"], move != .null else {
            return "\r\(AddWorkerCommand.bar(0))  planning, \(held)   "
        }
        let fraction =
            move["progress"].flatMap { value -> Double? in
                if case .number(let text) = value { Double(text) } else { nil }
            } ?? 0
        return AddWorkerCommand.progressLine(move, fraction: fraction).dropLast(3)
            + ", \(move["kind"]?.stringValue ?? "?") to \(move["worker"]?.stringValue ?? "?"), \(held)   "
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
            let json = try await client.clusterStatus()
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
