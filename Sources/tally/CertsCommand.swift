import ArgumentParser
import TallyCluster

/// `tally certs init` and `tally certs issue NODE`: the cluster CA and node certificates.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Create the cluster CA and node certificates.",
        subcommands: [Init.self, Issue.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the cluster CA (ca.pem, ca.key) in the folder.")
        @Option(help: "Folder for the certificates.")
        var dir = "./.tally/certs"

        func run() async throws {
            try CertificateAuthority(directory: dir).initialize()
            print("created the cluster CA in \(dir)/ca.pem (keep \(dir)/ca.key secret)")
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue NODE.pem and NODE.key, signed by the cluster CA.")
        @Argument(help: "Node name (coordinator, or a worker name).")
        var node: String
        @Option(help: "Folder of the CA and certificates.")
        var dir = "./.tally/certs"
        @Option(name: .customLong("host"), help: "Extra DNS name or IP address the node is reached at (repeatable).")
        var hosts: [String] = []

        func run() async throws {
            try CertificateAuthority(directory: dir).issue(node: node, hosts: hosts)
            print(
                "issued \(dir)/\(node).pem for "
                    + ([node, "localhost", "127.0.0.1", "::1"] + hosts).joined(separator: ", ")
            )
        }
    }
}
