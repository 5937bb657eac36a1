import Foundation
import Hummingbird
import NIOCore
import TallyCore

extension Response {
    /// A JSON response written with Tally's exact-number JSON writer.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: JSONWriter.string(value))))
    }
}

extension Request {
    /// The body parsed as JSON, at most `maxBytes` long.
    public func jsonBody(maxBytes: Int) async throws -> JSONValue {
        try await parsedBody(maxBytes: maxBytes) { (bytes) throws(JSONParseError) in try JSONParser.parse(bytes) }
    }

    /// The body parsed as JSON with the source text of each top-level array element (or of the whole
    /// document when it is not an array).
    public func jsonBodyWithTexts(maxBytes: Int) async throws -> (value: JSONValue, texts: [String]) {
        try await parsedBody(maxBytes: maxBytes) { (bytes) throws(JSONParseError) in
            try JSONParser.parseWithTexts(bytes)
        }
    }

    private func parsedBody<T>(maxBytes: Int, _ parse: (ByteBufferView) throws(JSONParseError) -> T) async throws -> T {
        if let length = headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw Problem(
                .contentTooLarge, type: "urn:tally:problem:body-too-large",
                detail: "the request body is \(length) bytes; the limit (maxBodyBytes) is \(maxBytes)")
        }
        let buffer = try await body.collect(upTo: maxBytes)
        do throws(JSONParseError) {
            return try parse(buffer.readableBytesView)
        } catch {
            throw Problem(
                .badRequest, type: "urn:tally:problem:malformed-json", detail: error.description,
                errors: [FieldError(field: "body", reason: error.description)])
        }
    }

    /// The media type of the body without parameters, lower-cased; nil when there is none (an absent,
    /// empty or parameter-only `Content-Type`).
    public var mediaType: String? {
        guard let header = headers[.contentType],
            let type = header.split(separator: ";", omittingEmptySubsequences: false).first
        else { return nil }
        let trimmed = type.trimmingCharacters(in: .whitespaces).lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }
}
