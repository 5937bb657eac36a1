import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TallyHTTP
import TallyStore

/// Opens a node's store, applies its declared meters, serves the API until SIGINT/SIGTERM, then shuts down
/// gracefully: in-flight requests finish and pending aggregates are flushed before the process exits.
enum NodeRunner {
    static func run(_ config: NodeConfiguration) async throws {
        var logger = Logger(label: "tally")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let store = try ShardStore(path: config.dataDirectory + "/shard.sqlite", configuration: config.store, logger: logger)
        for meter in try await store.ensureMeters(config.meters) {
            logger.info("created meter from configuration", metadata: ["meter": "\(meter.slug)"])
        }
        let host = config.host
        let app = TallyServer.application(
            store: store, host: host, port: config.port, limits: config.limits, apiKeys: config.apiKeys, logger: logger,
            onServerRunning: { port in
                let line = "Tally API listening on http://\(host):\(port)  (data: \(config.dataDirectory))\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        )
        let group = ServiceGroup(
            services: [app, DedupPruneService(store: store, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        try await group.run()
        try await store.flushAggregates()
        logger.info("stopped")
    }
}
