import ArgumentParser
import TallyConfiguration
import TallyHTTP

/// `tally serve`: one metering node.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run one metering node.")

    @Option(help: "YAML configuration file (see cluster-config/).")
    var config: String?
    @Option(help: "Address to bind (overrides the file).")
    var host: String?
    @Option(help: "Port to bind; 0 picks a free port (overrides the file).")
    var port: Int?
    @Option(help: "Data folder for the SQLite files (overrides the file).")
    var data: String?

    func run() async throws {
        var node = try config.map(NodeConfiguration.load(path:)) ?? NodeConfiguration()
        if let host { node.host = host }
        if let port { node.port = port }
        if let data { node.dataDirectory = data }
        try await NodeRunner.run(node)
    }
}
