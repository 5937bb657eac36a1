import Foundation
import Hummingbird
import TallyCore

/// Requires `Authorization: Bearer <key>` (the scheme in any case) with one of the configured keys on every path
/// but the health checks.
public struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: Set<String>

    public init(keys: Set<String>) { self.keys = keys }

    /// Health checks, by their path segments: `/healthz`, `/healthz/` and `//healthz` are the same route.
    static var openPaths: Set<[Substring]> { [["healthz"], ["readyz"]] }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let segments = request.uri.path.split(separator: "/")
        guard !keys.isEmpty, !Self.openPaths.contains(segments) else { return try await next(request, context) }
        guard let key = Self.bearerToken(request.headers[.authorization]), keys.contains(key) else {
            throw Problem(
                .unauthorized, type: "urn:tally:problem:unauthorized",
                detail: "a valid API key is required: send Authorization: Bearer <key>",
                errors: [FieldError(field: "Authorization", reason: "missing or unknown API key")])
        }
        return try await next(request, context)
    }

    /// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110 §11.1).
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
