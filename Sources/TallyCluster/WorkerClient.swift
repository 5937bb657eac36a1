import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import TallyConfiguration
import TallyCore
import TallyHTTP

/// The answer of a worker to one request.
public struct WorkerReply: Sendable {
    public var status: Int
    public var body: ByteBuffer

    /// The body parsed as JSON, nil when it is not JSON.
    public var json: JSONValue? { try? JSONParser.parse(body.readableBytesView) }

    /// The `detail` of a problem answer, or the start of the body.
    var detail: String {
        json?["detail"]?.stringValue
            ?? String(buffer: body.getSlice(at: body.readerIndex, length: min(body.readableBytes, 200)) ?? body)
    }
}

/// The coordinator's HTTPS client to workers: mutual TLS with the cluster CA, pooled keep-alive
/// connections (a fresh handshake costs ~3 ms here), and a timeout on every request.
public final class WorkerClient: Sendable {
    /// Largest worker answer read, in bytes (a query's partials for many groups and unique values).
    public static let maxWorkerResponseBytes = 256 * 1024 * 1024
    /// How long a pooled connection to a worker may stay idle: below the worker's `idleTimeoutSeconds`, so the
    /// coordinator never sends on a connection the worker is closing.
    public static let pooledConnectionIdleTimeout = TimeAmount.seconds(10)

    /// The connection pool a request travels on.
    public enum Lane: Sendable {
        /// Forwarded ingestion, queries, assignments and moves.
        case requests
        /// Health probes, on their own connections, so they never wait behind busy requests for a pooled one.
        case probes
    }

    /// Pooled connections per worker on the probe lane.
    static let probeConnectionsPerWorker = 2

    let http: HTTPClient
    let probes: HTTPClient
    let forwardTimeout: TimeAmount

    public init(tls: ClusterTLS, settings: ClusterSettings) {
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls.client)
        configuration.connectionPool = .init(
            idleTimeout: WorkerClient.pooledConnectionIdleTimeout,
            concurrentHTTP1ConnectionsPerHostSoftLimit: settings.maxConnectionsPerWorker)
        configuration.timeout = .init(connect: .milliseconds(Int64(settings.forwardTimeoutMs)))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = WorkerClient.probeConnectionsPerWorker
        probes = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        forwardTimeout = .milliseconds(Int64(settings.forwardTimeoutMs))
    }

    /// Sends one request to the worker at `baseURL` on `lane`; throws when the worker cannot be reached or does not
    /// answer within `timeout` (default `forwardTimeout`).
    public func send(
        _ method: HTTPMethod, baseURL: String, path: String, headers: [(String, String)] = [],
        body: String? = nil, contentType: String = "application/json", timeout: Duration? = nil, lane: Lane = .requests
    ) async throws -> WorkerReply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await (lane == .probes ? probes : http).execute(
            request, timeout: timeout.map { .nanoseconds(Int64($0 / .nanoseconds(1))) } ?? forwardTimeout)
        return WorkerReply(
            status: Int(response.status.code),
            body: try await response.body.collect(upTo: WorkerClient.maxWorkerResponseBytes))
    }

    public func shutdown() async throws {
        try await http.shutdown()
        try await probes.shutdown()
    }
}
