import Foundation
import Hummingbird
import ServiceLifecycle
import TallyCluster
import TallyConfiguration
import TallyHTTP
import TallyStore

/// Runs one worker: its shard store, served over mutual TLS to the coordinator, until SIGINT/SIGTERM;
/// then in-flight requests finish and pending aggregates are flushed.
enum WorkerRunner {
    /// `parent`, when given, is the process id of the `tally local` that started this worker: the worker stops
    /// gracefully when that process is gone.
    static func run(name: String, config: NodeConfiguration, certsDirectory: String, parent: Int32? = nil) async throws
    {
        let logger = RunnerLogger.make(label: "tally.worker.\(name)")
        ServerProcess.raiseOpenFilesLimit()
        let tls = try ClusterTLS(authority: CertificateAuthority(directory: certsDirectory), node: name)
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let store = try ShardStore(
            path: config.dataDirectory + "/shard.sqlite", configuration: config.store, logger: logger)
        let replica = try ShardStore(
            path: config.dataDirectory + "/replica.sqlite", configuration: config.store, logger: logger)
        let stores = WorkerStores(primary: store, replica: replica)
        let membership = try await WorkerMembership(node: name, store: store)
        let host = config.host
        let listener = ListenerState(address: "https://\(host):\(config.port)")
        let receiver = SlotChunkReceiver(
            stagingDirectory: config.dataDirectory + "/staging", maxChunkBytes: SlotChunkHeader.maxChunkBytes,
            maxBytesPerSecond: SlotChunkReceiver.maxCopyBytesPerSecond)
        try receiver.clearStaging()
        let puller = SlotPuller(tls: tls, receiver: receiver)
        let app = try WorkerServer.application(
            stores: stores, membership: membership, puller: puller, tls: tls, host: host, port: config.port,
            limits: config.limits,
            logger: logger,
            onServerRunning: { port in
                listener.markListening()
                RunnerLogger.announce(
                    "Tally worker \(name) listening on https://\(host):\(port)  "
                        + "(data: \(config.dataDirectory), epoch \(membership.epoch))"
                )
            }
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: app),
            .init(service: DedupPruneService(store: store, logger: logger)),
            .init(service: DedupPruneService(store: replica, logger: logger)),
            .init(service: MeterBuildService(store: store, logger: logger)),
        ]
        if let parent {
            services.append(
                .init(service: ParentWatch(parent: parent), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await listener.run(group)
        try await store.flushAggregates()
        try await replica.flushAggregates()
        logger.info("stopped")
    }
}
