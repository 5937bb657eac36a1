import NIOSSL

/// TLS settings of one node for node-to-node traffic: mutual TLS where both sides present a certificate
/// signed by the cluster CA and trust only that CA (never the system bundle).
public struct ClusterTLS: Sendable {
    public let server: TLSConfiguration
    public let client: TLSConfiguration

    /// Loads the CA and the certificate and key of `node` from the CA's folder.
    public init(authority: CertificateAuthority, node: String) throws {
        let trust = try NIOSSLCertificate.fromPEMFile(authority.caCertificatePath)
        let chain = try NIOSSLCertificate.fromPEMFile(authority.certificatePath(node: node)).map(
            NIOSSLCertificateSource.certificate)
        let key = try NIOSSLPrivateKey(file: authority.keyPath(node: node), format: .pem)
        var server = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: chain, privateKey: .privateKey(key), trustRoots: .certificates(trust))
        server.minimumTLSVersion = .tlsv12
        var client = TLSConfiguration.makeClientConfiguration()
        client.trustRoots = .certificates(trust)
        client.certificateChain = chain
        client.privateKey = .privateKey(key)
        client.certificateVerification = .fullVerification
        client.minimumTLSVersion = .tlsv12
        self.server = server
        self.client = client
    }
}
