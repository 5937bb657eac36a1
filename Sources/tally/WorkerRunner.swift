import Foundation
import Hummingbird
import ServiceLifecycle
import TallyCluster
import TallyHTTP
import TallyStore

/// Runs one worker: its shard store, served over mutual TLS to the coordinator, until SIGINT/SIGTERM;
/// then in-flight requests finish and pending aggregates are flushed.
enum WorkerRunner {
    static func run(name: String, config: NodeConfiguration, certsDirectory: String) async throws {
        let logger = RunnerLogger.make(label: "tally.worker.\(name)")
        let tls = try ClusterTLS(authority: CertificateAuthority(directory: certsDirectory), node: name)
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let store = try ShardStore(path: config.dataDirectory + "/shard.sqlite", configuration: config.store, logger: logger)
        let membership = try await WorkerMembership(node: name, store: store)
        let host = config.host
        let app = try WorkerServer.application(
            store: store, membership: membership, tls: tls, host: host, port: config.port, limits: config.limits, logger: logger,
            onServerRunning: { port in
                RunnerLogger.announce("Tally worker \(name) listening on https://\(host):\(port)  (data: \(config.dataDirectory), epoch \(membership.epoch))")
            }
        )
        let group = ServiceGroup(services: [app, DedupPruneService(store: store, logger: logger)],
                                 gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        try await store.flushAggregates()
        logger.info("stopped")
    }
}
