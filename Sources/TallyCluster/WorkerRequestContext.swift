import Hummingbird
import NIOCore
import NIOSSL
import TallyCore
import TallyHTTP
import X509

/// The request context of a worker's server: it keeps the connection's channel, so the internal API can be
/// authorized by the role of the peer's certificate.
public struct WorkerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The common name of the peer's certificate (verified against the cluster CA during the handshake).
    func peerCommonName() async throws -> String? {
        guard let certificate = try await channel.nioSSL_peerCertificate().get() else { return nil }
        let parsed = try Certificate(derEncoded: try certificate.toDERBytes())
        return parsed.subject.flatMap { $0 }.last { $0.type == .RDNAttributeType.commonName }.flatMap {
            String($0.value)
        }
    }
}

/// Lets only the coordinator's certificate call a worker's internal API (`/internal/...`) and the per-customer routes
/// it relays (`/api/...`): another worker's certificate, although signed by the same CA, is refused with 403. Health
/// checks and slot chunks (which a worker receiving slots pulls from their source) stay open to any cluster node.
struct CoordinatorOnlyMiddleware: RouterMiddleware {
    typealias Context = WorkerRequestContext
    /// The node name (certificate common name) allowed to call the internal API.
    static let coordinatorName = "coordinator"
    /// The internal route any cluster node may call: slot chunks.
    static let peerChunkPath = "/internal/v1/slots/chunk"

    func handle(
        _ request: Request, context: WorkerRequestContext,
        next: (Request, WorkerRequestContext) async throws -> Response
    ) async throws -> Response {
        guard request.uri.path != "/healthz", request.uri.path != Self.peerChunkPath else {
            return try await next(request, context)
        }
        let name = try? await context.peerCommonName()
        guard name == Self.coordinatorName else {
            throw Problem(
                .forbidden, type: "urn:tally:problem:forbidden",
                detail: "only the coordinator's certificate may call a worker's API; "
                    + "this peer presented \(name.map { "\"\($0.echoed)\"" } ?? "no readable certificate")")
        }
        return try await next(request, context)
    }
}
