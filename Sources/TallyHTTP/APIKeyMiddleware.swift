import Foundation
import Hummingbird
import TallyConfiguration
import TallyCore

/// Requires `Authorization: Bearer <key>` (the scheme in any case) with one of the configured keys on every path
/// but the health checks, and an admin key for changes of the cluster's membership (`APIKeys`).
public struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeys

    public init(keys: APIKeys) { self.keys = keys }

    /// Health checks, by their path segments: `/healthz`, `/healthz/` and `//healthz` are the same route.
    static var openPaths: Set<[Substring]> { [["healthz"], ["readyz"]] }

    /// Whether `request` changes the cluster's membership: any method but GET and HEAD under `/api/v1/cluster`.
    static func needsAdmin(_ request: Request, segments: [Substring]) -> Bool {
        request.method != .get && request.method != .head && segments.starts(with: ["api", "v1", "cluster"])
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let segments = request.uri.path.split(separator: "/")
        guard !keys.isEmpty, !Self.openPaths.contains(segments) else { return try await next(request, context) }
        switch keys.access(
            Self.bearerToken(request.headers[.authorization]), needsAdmin: Self.needsAdmin(request, segments: segments))
        {
        case .allowed:
            return try await next(request, context)
        case .unauthorized:
            throw Problem(
                .unauthorized, type: "urn:tally:problem:unauthorized",
                detail: "a valid API key is required: send Authorization: Bearer <key>",
                errors: [FieldError(field: "Authorization", reason: "missing or unknown API key")])
        case .forbidden:
            throw Problem(
                .forbidden, type: "urn:tally:problem:forbidden",
                detail: "changing the cluster's workers needs an admin API key (adminApiKeys)",
                errors: [FieldError(field: "Authorization", reason: "is not an admin API key")])
        }
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
