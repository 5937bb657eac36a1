import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TallyCore

/// One HTTP answer as tests read it.
public struct HTTPReply: Sendable {
    public var status: UInt
    public var headers: HTTPHeaders
    public var body: String
    public var json: JSONValue? { try? JSONParser.parse(body) }
}

/// Real HTTP requests for tests.
public enum TestHTTP {
    /// Longest wait for one answer, in seconds.
    public static let requestTimeoutSeconds: Int64 = 60

    public static func send(
        _ method: HTTPMethod, _ url: String, body: String? = nil, contentType: String? = "application/json",
        headers extra: [(String, String)] = [], client: HTTPClient = .shared
    ) async throws -> HTTPReply {
        try await send(
            method, url, bytes: body.map { Array($0.utf8) }, contentType: contentType, headers: extra, client: client)
    }

    /// A request whose body is raw bytes (which need not be UTF-8).
    public static func send(
        _ method: HTTPMethod, _ url: String, bytes body: [UInt8]?, contentType: String? = "application/json",
        headers extra: [(String, String)] = [], client: HTTPClient = .shared
    ) async throws -> HTTPReply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(requestTimeoutSeconds))
        } catch ChannelError.ioOnClosedChannel {
            // A pooled keep-alive connection the server closed (idle timeout) just as the request was written: the
            // request never reached the server, so it is sent once more on a fresh connection.
            response = try await client.execute(request, timeout: .seconds(requestTimeoutSeconds))
        }
        let buffer = try await response.body.collect(upTo: 256 * 1024 * 1024)
        return HTTPReply(status: response.status.code, headers: response.headers, body: String(buffer: buffer))
    }

    /// A TCP port free on loopback right now (bound, read and released).
    public static func freePort() throws -> Int {
        try withLoopbackSocket(port: 0) { socket, address in
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = bind(socket, address, length) == 0 && getsockname(socket, address, &length) == 0
            guard bound else { throw NodeProcess.StartFailure(description: "no free port") }
            return Int(
                UInt16(bigEndian: address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port }))
        }
    }

    /// Whether something accepts TCP connections on loopback `port` (one connect attempt, no retries).
    public static func isListening(port: Int) throws -> Bool {
        try withLoopbackSocket(port: port) { socket, address in
            connect(socket, address, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }

    private static func withLoopbackSocket<T>(
        port: Int, _ body: (Int32, UnsafeMutablePointer<sockaddr>) throws -> T
    ) throws -> T {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body(socket, $0) }
        }
    }
}
