import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import TallyConfiguration
import TallyHTTP
import TallyStore

/// A worker's HTTPS server: health checks, the internal API and the per-customer public routes the coordinator
/// relays to the owner of a customer's slot (entitlements, grants, values, customers), reachable only with a
/// certificate signed by the cluster CA; all but health checks and slot chunks only with the coordinator's.
public enum WorkerServer {
    public static func router(
        stores: WorkerStores, membership: WorkerMembership, puller: SlotPuller, limits: APILimits
    ) -> Router<WorkerRequestContext> {
        let router = Router(context: WorkerRequestContext.self)
        let gate = CustomerRequestGate()
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: CoordinatorOnlyMiddleware())
        router.add(middleware: CustomerRouteMiddleware<WorkerRequestContext>(membership: membership, gate: gate))
        router.get("/healthz") { _, _ in Response.json(.object(["status": .string("ok")])) }
        WorkerRoutes<WorkerRequestContext>(stores: stores, membership: membership, limits: limits, gate: gate)
            .register(on: router)
        SlotRoutes<WorkerRequestContext>(stores: stores, membership: membership, puller: puller).register(on: router)
        CustomerStateRoutes<WorkerRequestContext>(stores: stores, membership: membership).register(on: router)
        let backend = LocalBackend(store: stores.primary)
        EntitlementRoutes(backend: backend, limits: limits).register(on: router)
        CustomerRoutes(backend: backend, limits: limits).register(on: router)
        MethodNotAllowed.register(on: router)
        return router
    }

    /// The application serving the worker on `host:port` with mutual TLS (port 0 picks a free port).
    public static func application(
        stores: WorkerStores, membership: WorkerMembership, puller: SlotPuller, tls: ClusterTLS, host: String,
        port: Int,
        limits: APILimits,
        logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        Application(
            router: router(stores: stores, membership: membership, puller: puller, limits: limits),
            server: try .tls(
                .http1(configuration: .init(idleTimeout: .seconds(Int64(limits.idleTimeoutSeconds)))),
                tlsConfiguration: tls.server),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "tally-worker",
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
