import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TallyConfiguration
import TallyHTTP
import TallyStore

/// Opens a node's store, applies its declared meters, serves the API until SIGINT/SIGTERM, then shuts down
/// gracefully: in-flight requests finish and pending aggregates are flushed before the process exits.
enum NodeRunner {
    static func run(_ config: NodeConfiguration) async throws {
        let logger = RunnerLogger.make()
        ServerProcess.raiseOpenFilesLimit()
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let store = try ShardStore(
            path: config.dataDirectory + "/shard.sqlite", configuration: config.store, logger: logger)
        for meter in try await store.ensureMeters(config.meters) {
            logger.info("created meter from configuration", metadata: ["meter": "\(meter.slug)"])
        }
        let host = config.host
        let listener = ListenerState(address: "http://\(host):\(config.port)")
        let app = TallyServer.application(
            store: store, host: host, port: config.port, limits: config.limits, apiKeys: config.apiKeys, logger: logger,
            onServerRunning: { port in
                listener.markListening()
                RunnerLogger.announce("Tally API listening on http://\(host):\(port)  (data: \(config.dataDirectory))")
            }
        )
        let group = ServiceGroup(
            services: [
                app, DedupPruneService(store: store, logger: logger), MeterBuildService(store: store, logger: logger),
                NotificationService(store: store, logger: logger),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        try await listener.run(group)
        try await store.flushAggregates()
        logger.info("stopped")
    }
}
