import AsyncHTTPClient
import Foundation
import NIOHTTP1
import TallyCluster
import TallyCore
import TallyHTTP
import TallyTestSupport

/// A real cluster on loopback for tests: a cluster CA and node certificates in a temporary folder,
/// worker processes and a coordinator process of the debug `tally` binary, talking mutual TLS.
final class ClusterProcesses {
    /// Longest wait for the coordinator to see every worker up, in seconds.
    static let readyTimeoutSeconds = 60.0
    /// The coordinator's `forwardTimeoutMs`: debug binaries on two cores shared with the rest of the suite can take
    /// seconds for a large query, and these tests assert answers, not speed (a dead worker is refused at once).
    static let forwardTimeoutMs = 20_000

    let folder: String
    let authority: CertificateAuthority
    /// The workers the cluster was created with.
    let workerNames: [String]
    /// Workers with a certificate and a port but not in the cluster, to add online (named after the others).
    let spareNames: [String]
    let workerPorts: [String: Int]
    private(set) var workers: [String: NodeProcess] = [:]
    private(set) var coordinator: NodeProcess!
    /// An mTLS client holding the coordinator's certificate, to inspect workers directly.
    let peerClient: HTTPClient

    /// The workers' `--config` file, when given.
    let workerConfigPath: String?

    /// Starts `count` workers (each with `workerConfig` as its YAML file, when given) and a coordinator (with
    /// `clusterSettings`, `key: value` lines, added to its `cluster:` section, and `coordinatorSettings` lines at the
    /// top of its file), and readies `spares` more workers to add online.
    init(
        workers count: Int = 3, spares: Int = 0, probeIntervalMs: Int = 200, workerConfig: String? = nil,
        clusterSettings: [String] = [], coordinatorSettings: [String] = []
    ) throws {
        folder = NSTemporaryDirectory() + "tally-cluster-\(UUID().uuidString)"
        authority = CertificateAuthority(directory: folder + "/certs")
        try authority.initialize()
        workerNames = (1...count).map { "w\($0)" }
        spareNames = (0..<spares).map { "w\(count + 1 + $0)" }
        if let workerConfig {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try workerConfig.write(toFile: folder + "/worker.yaml", atomically: true, encoding: .utf8)
            workerConfigPath = folder + "/worker.yaml"
        } else {
            workerConfigPath = nil
        }
        for node in ["coordinator"] + workerNames + spareNames { try authority.issue(node: node) }
        let names = workerNames
        let ports = Dictionary(uniqueKeysWithValues: try (names + spareNames).map { ($0, try TestHTTP.freePort()) })
        workerPorts = ports
        let yaml = """
            \(coordinatorSettings.map { "\($0)\n" }.joined())dataDir: \(folder)/coordinator
            cluster:
              certsDir: \(folder)/certs
              workerProbeIntervalMs: \(probeIntervalMs)
              forwardTimeoutMs: \(Self.forwardTimeoutMs)
            \(clusterSettings.map { "  \($0)\n" }.joined())  workers:
            \(names.map { "    - name: \($0)\n      url: https://127.0.0.1:\(ports[$0]!)" }.joined(separator: "\n"))
            """
        try yaml.write(toFile: folder + "/cluster.yaml", atomically: true, encoding: .utf8)
        peerClient = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: try ClusterTLS(authority: authority, node: "coordinator").client))
        for name in workerNames { try startWorker(name) }
        coordinator = try NodeProcess(arguments: ["coordinator", "--config", folder + "/cluster.yaml", "--port", "0"])
    }

    /// Kills the coordinator (SIGKILL) and starts it again on its state.
    func restartCoordinator() throws {
        coordinator.kill()
        coordinator = try NodeProcess(arguments: ["coordinator", "--config", folder + "/cluster.yaml", "--port", "0"])
    }

    /// The base URL of a worker.
    func workerURL(_ name: String) -> String { "https://127.0.0.1:\(workerPorts[name]!)" }

    func startWorker(_ name: String) throws {
        workers[name] = try NodeProcess(
            arguments: [
                "worker", "--name", name, "--port", String(workerPorts[name]!),
                "--data", "\(folder)/\(name)", "--certs", authority.directory,
            ] + (workerConfigPath.map { ["--config", $0] } ?? []),
            announcement: "Tally worker ")
    }

    func killWorker(_ name: String) {
        workers[name]?.kill()
        workers[name] = nil
    }

    /// Deletes a stopped worker's data folder, as after losing its disk.
    func wipeWorker(_ name: String) throws {
        try FileManager.default.removeItem(atPath: "\(folder)/\(name)")
    }

    /// Waits until the coordinator's `/readyz` says every worker is up and current.
    func waitReady() async throws {
        let deadline = Date().addingTimeInterval(ClusterProcesses.readyTimeoutSeconds)
        while Date() < deadline {
            if let reply = try? await TestHTTP.send(.GET, coordinator.baseURL + "/readyz"), reply.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NodeProcess.StartFailure(description: "cluster not ready after \(ClusterProcesses.readyTimeoutSeconds) s")
    }

    /// A request through the coordinator's public API.
    func api(
        _ method: HTTPMethod, _ path: String, _ body: String? = nil, contentType: String = "application/json"
    ) async throws -> HTTPReply {
        try await TestHTTP.send(method, coordinator.baseURL + path, body: body, contentType: contentType)
    }

    /// A request straight to a worker's internal API over mutual TLS.
    func worker(_ name: String, _ path: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        try await TestHTTP.send(
            .GET, "https://127.0.0.1:\(workerPorts[name]!)" + path, headers: headers, client: peerClient)
    }

    /// Events stored in the primary (or replica) stores of every running worker, asked of each worker directly (no
    /// wait for the coordinator's probe).
    func storedEvents(_ role: SlotRole = .primary) async throws -> Int {
        var total = 0
        for name in workers.keys.sorted() {
            let reply = try await worker(name, "/internal/v1/assignment")
            let key = role == .primary ? "events" : "replicaEvents"
            guard case .number(let text)? = reply.json?[key], let events = Int(text) else {
                throw NodeProcess.StartFailure(description: "worker \(name) did not report its events: \(reply.body)")
            }
            total += events
        }
        return total
    }

    /// Every running worker's digests of every slot it stores events of, in both stores, asked of each worker
    /// directly: slot → the copies found, as "events/checksum" per worker and store.
    func storedCopies(slotCount: Int = 1024) async throws -> [Int: [String: String]] {
        var copies: [Int: [String: String]] = [:]
        let slots = (0..<slotCount).map(String.init).joined(separator: ",")
        for name in workers.keys.sorted() {
            for role in SlotRole.allCases {
                let reply = try await TestHTTP.send(
                    .POST, "https://127.0.0.1:\(workerPorts[name]!)/internal/v1/slots/digest",
                    body: #"{"slots":[\#(slots)],"slotCount":\#(slotCount),"store":"\#(role.rawValue)"}"#,
                    client: peerClient)
                guard reply.status == 200, let digests = reply.json?["digests"]?.arrayValue else {
                    throw NodeProcess.StartFailure(description: "worker \(name) gave no digests: \(reply.body)")
                }
                for digest in digests where digest["events"] != .number("0") {
                    guard case .number(let slot)? = digest["slot"], let slot = Int(slot),
                        case .number(let events)? = digest["events"], let checksum = digest["checksum"]?.stringValue
                    else { continue }
                    copies[slot, default: [:]]["\(name)/\(role.rawValue)"] = "\(events)/\(checksum)"
                }
            }
        }
        return copies
    }

    /// The workers' `eventsStored` in `/api/v1/cluster` once they add up to `expected` (the probe refreshes them),
    /// or as they are after `readyTimeoutSeconds`.
    func reportedEvents(expected: Int) async throws -> Int {
        let deadline = Date().addingTimeInterval(ClusterProcesses.readyTimeoutSeconds)
        while true {
            let workers = try await api(.GET, "/api/v1/cluster").json?["workers"]?.arrayValue ?? []
            let total = workers.compactMap { item -> Int? in
                if case .number(let text)? = item["eventsStored"] { Int(text) } else { nil }
            }.reduce(0, +)
            if total == expected || Date() >= deadline { return total }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func stop() async {
        _ = coordinator?.stop()
        for process in workers.values { _ = process.stop() }
        try? await peerClient.shutdown()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
