import Hummingbird
import Logging
import TallyConfiguration
import TallyHTTP

/// The coordinator's public HTTP API: the OpenMeter-compatible API of a node, served across the cluster,
/// plus `GET /api/v1/cluster`.
public enum CoordinatorServer {
    public static func router(
        coordinator: Coordinator, limits: APILimits, apiKeys: APIKeys
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: APIKeyMiddleware(keys: apiKeys))
        PublicRoutes(backend: ClusterBackend(coordinator: coordinator), limits: limits).register(on: router)
        FeatureRoutes(backend: ClusterBackend(coordinator: coordinator), limits: limits).register(on: router)
        CustomerRelayRoutes(coordinator: coordinator, limits: limits).register(on: router)
        ClusterStatusRoutes(coordinator: coordinator).register(on: router)
        MethodNotAllowed.register(on: router)
        return router
    }

    public static func application(
        coordinator: Coordinator, host: String, port: Int, limits: APILimits, apiKeys: APIKeys,
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        TallyServer.publicApplication(
            router: router(coordinator: coordinator, limits: limits, apiKeys: apiKeys), host: host, port: port,
            limits: limits, apiKeys: apiKeys, logger: logger, onServerRunning: onServerRunning)
    }
}
