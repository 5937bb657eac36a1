import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import TallyHTTP
import TallyStore

/// A worker's HTTPS server: health checks and the internal API, reachable only with a certificate signed
/// by the cluster CA.
public enum WorkerServer {
    public static func router(store: ShardStore, membership: WorkerMembership, limits: APILimits) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ProblemMiddleware())
        router.get("/healthz") { _, _ in Response.json(.object(["status": .string("ok")])) }
        WorkerRoutes(store: store, membership: membership, limits: limits).register(on: router)
        return router
    }

    /// The application serving the worker on `host:port` with mutual TLS (port 0 picks a free port).
    public static func application(
        store: ShardStore, membership: WorkerMembership, tls: ClusterTLS, host: String, port: Int, limits: APILimits,
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        Application(
            router: router(store: store, membership: membership, limits: limits),
            server: try .tls(.http1(), tlsConfiguration: tls.server),
            configuration: .init(address: .hostname(host, port: port), serverName: "tally-worker",
                                 availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
