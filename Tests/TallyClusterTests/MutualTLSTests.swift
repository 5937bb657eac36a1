import AsyncHTTPClient
import Foundation
import NIOSSL
import TallyCluster
import TallyTestSupport
import Testing

/// A worker process serving real mutual TLS: only clients with a certificate from the cluster CA get in.
@Suite struct MutualTLSTests {
    func client(
        trusting authority: CertificateAuthority, presenting identity: (CertificateAuthority, String)?
    ) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(authority.caCertificatePath))
        if let (issuer, node) = identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(issuer.certificatePath(node: node)).map {
                .certificate($0)
            }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: issuer.keyPath(node: node), format: .pem))
        }
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
    }

    @Test func workersAcceptOnlyClusterCertificates() async throws {
        let folder = NSTemporaryDirectory() + "tally-mtls-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cluster = CertificateAuthority(directory: folder + "/cluster")
        try cluster.initialize()
        try cluster.issue(node: "w1")
        try cluster.issue(node: "coordinator")
        let other = CertificateAuthority(directory: folder + "/other")
        try other.initialize()
        try other.issue(node: "coordinator")
        let worker = try NodeProcess(
            arguments: [
                "worker", "--name", "w1", "--port", "0", "--data", folder + "/w1", "--certs", cluster.directory,
            ],
            announcement: "Tally worker ")
        defer { _ = worker.stop() }
        let url = worker.baseURL + "/internal/v1/assignment"

        let member = try client(trusting: cluster, presenting: (cluster, "coordinator"))
        let reply = try await TestHTTP.send(.GET, url, client: member)
        #expect(reply.status == 200)
        #expect(reply.json?["node"]?.stringValue == "w1")
        let fenced = try await TestHTTP.send(.GET, worker.baseURL + "/internal/v1/subjects", client: member)
        #expect(fenced.status == 409)
        #expect(fenced.json?["type"]?.stringValue == "urn:tally:problem:stale-epoch")
        try await member.shutdown()

        // Slot chunks (what moves copy) are refused to a peer without a cluster certificate too.
        let chunk = worker.baseURL + "/internal/v1/slots/chunk?slots=0&slotCount=1024&after=0"
        let anonymous = try client(trusting: cluster, presenting: nil)
        await #expect(throws: (any Error).self) { _ = try await TestHTTP.send(.GET, url, client: anonymous) }
        await #expect(throws: (any Error).self) { _ = try await TestHTTP.send(.GET, chunk, client: anonymous) }
        try await anonymous.shutdown()

        let stranger = try client(trusting: cluster, presenting: (other, "coordinator"))
        await #expect(throws: (any Error).self) { _ = try await TestHTTP.send(.GET, url, client: stranger) }
        await #expect(throws: (any Error).self) { _ = try await TestHTTP.send(.GET, chunk, client: stranger) }
        try await stranger.shutdown()

        let misled = try client(trusting: other, presenting: (other, "coordinator"))
        await #expect(throws: (any Error).self) { _ = try await TestHTTP.send(.GET, url, client: misled) }
        try await misled.shutdown()
    }

    @Test func aWorkersCertificateCannotCallAnotherWorkersInternalAPI() async throws {
        let folder = NSTemporaryDirectory() + "tally-roles-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cluster = CertificateAuthority(directory: folder + "/cluster")
        try cluster.initialize()
        for node in ["w1", "w2", "coordinator"] { try cluster.issue(node: node) }
        let worker = try NodeProcess(
            arguments: [
                "worker", "--name", "w1", "--port", "0", "--data", folder + "/w1", "--certs", cluster.directory,
            ],
            announcement: "Tally worker ")
        defer { _ = worker.stop() }
        let peer = try client(trusting: cluster, presenting: (cluster, "w2"))
        for path in [
            "/internal/v1/assignment", "/internal/v1/events?from=2020-01-01T00:00:00Z",
            "/api/v1/subjects/acme/entitlements", "/internal/v1/customer-state?slots=1&slotCount=1024",
        ] {
            let refused = try await TestHTTP.send(.GET, worker.baseURL + path, client: peer)
            #expect(refused.status == 403, "\(path)")
            #expect(refused.json?["type"] == .string("urn:tally:problem:forbidden"))
            #expect(
                refused.json?["detail"]
                    == .string(
                        "only the coordinator's certificate may call a worker's API; "
                            + "this peer presented \"w2\""))
        }
        let injected = try await TestHTTP.send(.POST, worker.baseURL + "/internal/v1/events", body: "[]", client: peer)
        #expect(injected.status == 403)
        #expect(try await TestHTTP.send(.GET, worker.baseURL + "/healthz", client: peer).status == 200)
        try await peer.shutdown()
        let coordinator = try client(trusting: cluster, presenting: (cluster, "coordinator"))
        #expect(
            try await TestHTTP.send(.GET, worker.baseURL + "/internal/v1/assignment", client: coordinator).status == 200
        )
        try await coordinator.shutdown()
    }
}
