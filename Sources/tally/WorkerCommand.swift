import ArgumentParser
import TallyConfiguration
import TallyHTTP

/// `tally worker`: one worker of a cluster, serving its shard to the coordinator over mutual TLS.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run one worker of a cluster.")

    @Option(help: "Node name: the name in the coordinator's cluster.workers and in this node's certificate.")
    var name: String
    @Option(help: "YAML configuration file (store settings and limits; see cluster-config/).")
    var config: String?
    @Option(help: "Address to bind.")
    var host: String?
    @Option(help: "Port to bind; 0 picks a free port.")
    var port: Int?
    @Option(help: "Data folder (default ./.tally/NAME).")
    var data: String?
    @Option(help: "Folder of the cluster CA and node certificates.")
    var certs = "./.tally/certs"
    @Option(
        help: ArgumentHelp(
            "Stop when the process with this id is no longer the parent (set by tally local).",
            visibility: .hidden))
    var exitWithParent: Int32?

    func run() async throws {
        var node = try config.map(NodeConfiguration.load(path:)) ?? NodeConfiguration()
        if let host { node.host = host }
        if let port { node.port = port }
        node.dataDirectory = data ?? (config == nil ? "./.tally/\(name)" : node.dataDirectory)
        try await WorkerRunner.run(name: name, config: node, certsDirectory: certs, parent: exitWithParent)
    }
}
