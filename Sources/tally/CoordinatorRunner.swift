import Foundation
import Hummingbird
import ServiceLifecycle
import TallyCluster
import TallyConfiguration
import TallyHTTP

/// Runs the coordinator: its cluster state, the public API and the worker probe, until SIGINT/SIGTERM.
enum CoordinatorRunner {
    /// `companions` run beside the coordinator in its service group (the workers of `tally local`).
    static func run(_ config: NodeConfiguration, companions: [any Service] = []) async throws {
        guard let cluster = config.cluster else {
            throw NodeConfiguration.Invalid(errors: [
                .init(field: "cluster", reason: "a coordinator needs a cluster section listing its workers")
            ])
        }
        let logger = RunnerLogger.make(label: "tally.coordinator")
        ServerProcess.raiseOpenFilesLimit()
        let tls = try ClusterTLS(authority: CertificateAuthority(directory: cluster.certsDir), node: "coordinator")
        try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        let state = try CoordinatorState(
            path: config.dataDirectory + "/coordinator.sqlite", settings: cluster, meters: config.meters)
        let client = WorkerClient(tls: tls, settings: cluster)
        let coordinator = Coordinator(state: state, client: client, settings: cluster, logger: logger)
        let host = config.host
        let listener = ListenerState(address: "http://\(host):\(config.port)")
        let app = CoordinatorServer.application(
            coordinator: coordinator, host: host, port: config.port, limits: config.limits, apiKeys: config.apiKeys,
            logger: logger,
            onServerRunning: { port in
                listener.markListening()
                let snapshot = state.snapshot
                RunnerLogger.announce(
                    "Tally API listening on http://\(host):\(port)  (coordinator of \(snapshot.workers.count) "
                        + "workers, epoch \(snapshot.table.epoch), \(snapshot.table.slotCount) slots)")
            }
        )
        let probe = WorkerProbe(coordinator: coordinator, interval: .milliseconds(cluster.workerProbeIntervalMs))
        let mover = SlotMover(coordinator: coordinator, logger: logger)
        let antiEntropy = AntiEntropy(coordinator: coordinator, logger: logger)
        let group = ServiceGroup(
            services: companions + [app, probe, mover, antiEntropy], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        do {
            try await listener.run(group)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        logger.info("stopped")
    }
}
