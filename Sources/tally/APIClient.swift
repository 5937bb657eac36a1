import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A small client of a Tally node's HTTP API used by the CLI commands.
struct APIClient {
    let baseURL: String
    let apiKey: String?
    /// Longest wait for one request.
    static let requestTimeout = TimeAmount.seconds(60)

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends a request and returns status and body; throws only on transport errors.
    func send(
        _ method: HTTPMethod, _ path: String, contentType: String? = nil, accept: String = "application/json",
        body: [UInt8]? = nil
    ) async throws -> (status: UInt, body: String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: accept)
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: APIClient.requestTimeout)
        let buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return (response.status.code, String(buffer: buffer))
    }
}
