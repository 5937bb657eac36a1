import Foundation
import Testing

@testable import TallyCluster

@Suite struct CertificateTests {
    @Test func issuesNodeCertificatesSignedByTheCA() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-certs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let authority = CertificateAuthority(directory: dir)
        try authority.initialize()
        try authority.issue(node: "w1", hosts: ["10.0.0.5", "worker1.example"])
        #expect(authority.hasCA && authority.hasCertificate(node: "w1"))
        let permissions =
            try FileManager.default.attributesOfItem(atPath: authority.keyPath(node: "w1"))[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        #expect(throws: CertificateAuthority.Failure.self) { try authority.initialize() }
        #expect(throws: CertificateAuthority.Failure.self) { try authority.issue(node: "bad name") }
        #expect(CertificateAuthority.ipAddressBytes("10.0.0.5") == [10, 0, 0, 5])
        #expect(CertificateAuthority.ipAddressBytes("::1") == [UInt8](repeating: 0, count: 15) + [1])
        #expect(CertificateAuthority.ipAddressBytes("worker1.example") == nil)
        _ = try ClusterTLS(authority: authority, node: "w1")
    }
}
