import ArgumentParser
import TallyHTTP

/// `tally local`: the newcomer's entry point, a node on 127.0.0.1 with data under `./.tally/`.
struct LocalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "local", abstract: "Run Tally locally with data under ./.tally/.")

    @Option(help: "Port of the public API.")
    var port = 8080

    func run() async throws {
        var node = NodeConfiguration()
        node.host = "127.0.0.1"
        node.port = port
        node.dataDirectory = "./.tally/local"
        try await NodeRunner.run(node)
    }
}
