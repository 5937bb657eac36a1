import Hummingbird
import HummingbirdCore
import Logging
import TallyConfiguration
import TallyStore

/// The public HTTP API of one metering node, as a Hummingbird application.
public enum TallyServer {
    /// Builds the router with every route and middleware.
    public static func router(store: ShardStore, limits: APILimits, apiKeys: APIKeys) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: APIKeyMiddleware(keys: apiKeys))
        PublicRoutes(backend: LocalBackend(store: store), limits: limits).register(on: router)
        FeatureRoutes(backend: LocalBackend(store: store), limits: limits).register(on: router)
        EntitlementRoutes(backend: LocalBackend(store: store), limits: limits).register(on: router)
        CustomerRoutes(backend: LocalBackend(store: store), limits: limits).register(on: router)
        NotificationRoutes(backend: LocalBackend(store: store), limits: limits).register(on: router)
        MethodNotAllowed.register(on: router)
        return router
    }

    /// The application serving `store` on `host:port` (port 0 picks a free port, reported through `onServerRunning`).
    public static func application(
        store: ShardStore, host: String, port: Int, limits: APILimits = APILimits(), apiKeys: APIKeys = [],
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        publicApplication(
            router: router(store: store, limits: limits, apiKeys: apiKeys), host: host, port: port, limits: limits,
            apiKeys: apiKeys, logger: logger, onServerRunning: onServerRunning)
    }

    /// The plain-HTTP application serving a public API router (a node's or a coordinator's) on `host:port`,
    /// with the connection limit and idle timeout; warns when the API is open.
    public static func publicApplication(
        router: Router<BasicRequestContext>, host: String, port: Int, limits: APILimits, apiKeys: APIKeys,
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        if apiKeys.isEmpty {
            logger.warning("no API keys configured: the API is open to anyone who can reach \(host):\(port)")
        }
        return Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds)))),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "tally",
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
