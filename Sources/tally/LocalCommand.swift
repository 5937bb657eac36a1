import ArgumentParser
import Foundation
import TallyCluster
import TallyConfiguration
import TallyHTTP

/// `tally local`: the newcomer's entry point. A local cluster on loopback: the coordinator (public API on
/// 127.0.0.1:PORT, in this process) and N workers as child processes on PORT+1…PORT+N, with the cluster CA,
/// node certificates and all data under `./.tally/`. A worker that exits unexpectedly is restarted with backoff;
/// the workers stop by themselves if this process dies. Ctrl-C stops them all gracefully. Started again on its folder
/// with more workers than it holds, it starts the new ones and adds them online, one after the other; with fewer, it
/// drains the highest-numbered ones (they run until they have left, and are not started again).
struct LocalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local", abstract: "Run a local Tally cluster with data under ./.tally/.")

    @Option(help: "Port of the public API; workers listen on the next ports.")
    var port = 8080
    @Option(
        help: "Number of workers; more than the folder's cluster holds adds the new ones online, fewer drains some.")
    var workers = 3
    @Option(help: "Folder for certificates and data.")
    var dir = "./.tally"
    @Option(help: "Copies of every slot, each on another worker (cluster.replicationFactor).")
    var replicationFactor = ClusterSettings().replicationFactor

    func validate() throws {
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be from 1 to 64") }
        guard (1...ClusterSettings.maxReplicationFactor).contains(replicationFactor) else {
            throw ValidationError("--replication-factor must be from 1 to \(ClusterSettings.maxReplicationFactor)")
        }
    }

    func run() async throws {
        let authority = CertificateAuthority(directory: dir + "/certs")
        if !authority.hasCA { try authority.initialize() }
        let stored = try CoordinatorState.storedWorkers(path: dir + "/coordinator/coordinator.sqlite")
        let removed = Set(stored?.removed ?? [])
        let existing = (stored.map { $0.seeded + $0.added } ?? []).filter { !removed.contains($0) }
            .sorted { $0.localNumber < $1.localNumber }
        let draining = Array(existing.dropFirst(workers))
        var names = existing
        var number = 0
        while names.count < workers {
            number += 1
            if !names.contains("w\(number)") { names.append("w\(number)") }
        }
        for name in names where removed.contains(name) {
            // A drained worker holds nothing but its old slot table; it joins again empty.
            try? FileManager.default.removeItem(atPath: "\(dir)/\(name)")
        }
        let seeded = stored?.seeded ?? names
        func url(_ name: String) -> String { "https://127.0.0.1:\(port + name.localNumber)" }
        for node in ["coordinator"] + names where !authority.hasCertificate(node: node) {
            try authority.issue(node: node)
        }
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let parent = String(getpid())
        let supervisor = WorkerSupervisor(
            executable: executable,
            workers: names.map { name in
                WorkerSupervisor.Worker(
                    name: name,
                    arguments: [
                        "worker", "--name", name, "--port", String(port + name.localNumber), "--data", "\(dir)/\(name)",
                        "--certs", authority.directory, "--exit-with-parent", parent,
                    ])
            }, logger: RunnerLogger.make(label: "tally.local"))
        var node = NodeConfiguration()
        node.port = port
        node.dataDirectory = dir + "/coordinator"
        var cluster = ClusterSettings()
        cluster.certsDir = authority.directory
        cluster.replicationFactor = replicationFactor
        cluster.workers = seeded.map { .init(name: $0, url: url($0)) }
        node.cluster = cluster
        let joining = stored == nil ? [] : names.filter { !existing.contains($0) }
        let resize = LocalResize(
            adding: joining.map { ($0, url($0)) }, draining: draining,
            api: APIClient(baseURL: "http://127.0.0.1:\(port)", apiKey: nil),
            logger: RunnerLogger.make(label: "tally.local"))
        try await CoordinatorRunner.run(node, companions: [supervisor, resize])
    }
}

extension String {
    /// The number of a `tally local` worker name (`w3` → 3): its port is the API port plus this number.
    fileprivate var localNumber: Int { Int(dropFirst()) ?? 0 }
}
