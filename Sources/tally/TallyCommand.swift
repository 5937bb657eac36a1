import ArgumentParser

/// The `tally` command: run nodes and talk to them.
@main
struct TallyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tally",
        abstract: "Tally usage metering: ingest usage events, aggregate meters, query usage.",
        subcommands: [
            LocalCommand.self, ServeCommand.self, CoordinatorCommand.self, WorkerCommand.self, CertsCommand.self,
            IngestCommand.self, QueryCommand.self, ClusterCommand.self,
        ]
    )

    static func main() async {
        ServerProcess.configureCrashHandling()
        await main(nil)
    }
}
