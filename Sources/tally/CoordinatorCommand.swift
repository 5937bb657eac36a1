import ArgumentParser
import TallyConfiguration
import TallyHTTP

/// `tally coordinator`: the public API of a cluster, routing to its workers.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator", abstract: "Run the coordinator of a cluster.")

    @Option(help: "YAML configuration file with a cluster section (see cluster-config/cluster.yaml).")
    var config: String
    @Option(help: "Address to bind (overrides the file).")
    var host: String?
    @Option(help: "Port to bind; 0 picks a free port (overrides the file).")
    var port: Int?
    @Option(help: "Data folder for coordinator.sqlite (overrides the file).")
    var data: String?
    @Option(help: "Folder of the cluster CA and node certificates (overrides cluster.certsDir).")
    var certs: String?

    func run() async throws {
        var node = try NodeConfiguration.load(path: config)
        if let host { node.host = host }
        if let port { node.port = port }
        if let data { node.dataDirectory = data }
        if let certs { node.cluster?.certsDir = certs }
        try await CoordinatorRunner.run(node)
    }
}
