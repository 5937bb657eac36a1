import Foundation

/// Raw bytes over a TCP connection to loopback, for requests no HTTP client would send (malformed framing,
/// odd headers) and for connections that send nothing.
public final class RawConnection {
    public let socket: Int32

    private init(socket: Int32) { self.socket = socket }

    /// Connects to 127.0.0.1:`port` without blocking a thread (the socket is non-blocking and the wait is an
    /// `await`): a server in the same process needs the cooperative threads to accept the connection.
    public static func open(port: Int, timeoutSeconds: Double = 10) async throws -> RawConnection {
        let connection = RawConnection(socket: Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
        _ = fcntl(connection.socket, F_SETFL, fcntl(connection.socket, F_GETFL, 0) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(connection.socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result != 0 else { return connection }
        guard errno == EINPROGRESS else {
            throw NodeProcess.StartFailure(description: "cannot connect to 127.0.0.1:\(port) (errno \(errno))")
        }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            var descriptor = pollfd(fd: connection.socket, events: Int16(POLLOUT), revents: 0)
            if poll(&descriptor, 1, 0) > 0 {
                var failure: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                _ = getsockopt(connection.socket, SOL_SOCKET, SO_ERROR, &failure, &length)
                guard failure == 0 else {
                    throw NodeProcess.StartFailure(
                        description: "cannot connect to 127.0.0.1:\(port) (error \(failure))")
                }
                return connection
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw NodeProcess.StartFailure(description: "no connection to 127.0.0.1:\(port) within \(timeoutSeconds) s")
    }

    deinit { close(socket) }

    /// Sends `text` as it is (a few kilobytes at most: the socket is non-blocking).
    public func send(_ text: String) {
        var bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeMutableBytes { Foundation.send(socket, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EAGAIN { continue }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Everything the server sends until it closes the connection, a whole response with `Content-Length` has
    /// arrived, or `timeoutSeconds` pass. Waits without blocking a thread: a server in the same process shares them.
    public func receive(timeoutSeconds: Double = 10) async -> String {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while Date() < deadline {
            if RawConnection.isComplete(received) { break }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) >= 0 else { break }
            guard descriptor.revents != 0 else {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Whether `bytes` hold a response head and as many body bytes as its `Content-Length` says.
    static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<headEnd.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return false }
        return text[headEnd.upperBound...].utf8.count >= length
    }

    /// One request as raw text; the answer read until it is complete, the server closes, or the timeout.
    public static func exchange(port: Int, _ request: String, timeoutSeconds: Double = 10) async throws -> String {
        let connection = try await RawConnection.open(port: port)
        connection.send(request)
        return await connection.receive(timeoutSeconds: timeoutSeconds)
    }
}
