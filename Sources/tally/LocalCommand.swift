import ArgumentParser
import Foundation
import TallyCluster
import TallyConfiguration
import TallyHTTP

/// `tally local`: the newcomer's entry point. A local cluster on loopback: the coordinator (public API on
/// 127.0.0.1:PORT, in this process) and N workers as child processes on PORT+1…PORT+N, with the cluster CA,
/// node certificates and all data under `./.tally/`. A worker that exits unexpectedly is restarted with backoff;
/// the workers stop by themselves if this process dies. Ctrl-C stops them all gracefully.
struct LocalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local", abstract: "Run a local Tally cluster with data under ./.tally/.")

    @Option(help: "Port of the public API; workers listen on the next ports.")
    var port = 8080
    @Option(help: "Number of worker processes (fixed when ./.tally/ is first created).")
    var workers = 3
    @Option(help: "Folder for certificates and data.")
    var dir = "./.tally"

    func validate() throws {
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be from 1 to 64") }
    }

    func run() async throws {
        let authority = CertificateAuthority(directory: dir + "/certs")
        if !authority.hasCA { try authority.initialize() }
        let names = (1...workers).map { "w\($0)" }
        for node in ["coordinator"] + names where !authority.hasCertificate(node: node) {
            try authority.issue(node: node)
        }
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let parent = String(getpid())
        let supervisor = WorkerSupervisor(
            executable: executable,
            workers: names.enumerated().map { index, name in
                WorkerSupervisor.Worker(
                    name: name,
                    arguments: [
                        "worker", "--name", name, "--port", String(port + index + 1), "--data", "\(dir)/\(name)",
                        "--certs", authority.directory, "--exit-with-parent", parent,
                    ])
            }, logger: RunnerLogger.make(label: "tally.local"))
        var node = NodeConfiguration()
        node.port = port
        node.dataDirectory = dir + "/coordinator"
        var cluster = ClusterSettings()
        cluster.certsDir = authority.directory
        cluster.workers = names.enumerated().map { index, name in
            .init(name: name, url: "https://127.0.0.1:\(port + index + 1)")
        }
        node.cluster = cluster
        try await CoordinatorRunner.run(node, companions: [supervisor])
    }
}
