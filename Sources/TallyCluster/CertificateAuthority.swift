import Crypto
import Foundation
import SwiftASN1
import X509

/// The cluster's certificate authority and the node certificates it signs, as PEM files in one folder:
/// `ca.pem` + `ca.key` (the CA) and `NODE.pem` + `NODE.key` for each node. Keys are ECDSA P-256, files 0600.
public struct CertificateAuthority: Sendable {
    /// How long the CA certificate is valid, in days.
    public static let caValidityDays = 3650
    /// How long a node certificate is valid, in days.
    public static let nodeValidityDays = 825

    public let directory: String

    public init(directory: String) { self.directory = directory }

    public var caCertificatePath: String { directory + "/ca.pem" }
    var caKeyPath: String { directory + "/ca.key" }
    public func certificatePath(node: String) -> String { directory + "/\(node).pem" }
    public func keyPath(node: String) -> String { directory + "/\(node).key" }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Creates the CA; refuses to overwrite an existing one (that would orphan every node certificate).
    public func initialize(commonName: String = "Tally cluster CA") throws {
        guard !FileManager.default.fileExists(atPath: caCertificatePath) else {
            throw Failure(
                description: "\(caCertificatePath) already exists; a new CA would invalidate every node certificate")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(Self.caValidityDays) * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key)
        )
        try write(key.pemRepresentation, to: caKeyPath)
        try write(certificate.serializeAsPEM().pemString, to: caCertificatePath)
    }

    /// Issues a certificate for `node`, valid as TLS server and client, for the names `node`, `localhost`,
    /// 127.0.0.1 and ::1 plus `hosts` (DNS names or IP addresses the node is dialled at).
    public func issue(node: String, hosts: [String] = []) throws {
        guard node.range(of: #"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"#, options: .regularExpression) != nil, node != "ca"
        else {
            throw Failure(
                description: "node name \"\(node)\" must be 1-64 letters, digits, '.', '_' or '-' (and not \"ca\")")
        }
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: caKeyPath, encoding: .utf8))
        let caCertificate = try Certificate(pemEncoded: String(contentsOfFile: caCertificatePath, encoding: .utf8))
        let key = P256.Signing.PrivateKey()
        var names: [GeneralName] = []
        for host in [node, "localhost", "127.0.0.1", "::1"] + hosts {
            if let address = CertificateAuthority.ipAddressBytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
            } else {
                names.append(.dnsName(host))
            }
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(Double(Self.nodeValidityDays) * 86_400),
            issuer: caCertificate.subject, subject: try DistinguishedName { CommonName(node) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey)
        )
        try write(key.pemRepresentation, to: keyPath(node: node))
        try write(certificate.serializeAsPEM().pemString, to: certificatePath(node: node))
    }

    /// Whether the CA exists, and whether `node` has a certificate.
    public var hasCA: Bool { FileManager.default.fileExists(atPath: caCertificatePath) }
    public func hasCertificate(node: String) -> Bool {
        FileManager.default.fileExists(atPath: certificatePath(node: node))
    }

    /// The network-order bytes of an IPv4 or IPv6 literal; nil for a DNS name.
    static func ipAddressBytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    private func write(_ text: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw Failure(description: "cannot write \(path)")
        }
    }
}
