import Hummingbird

/// Requires `Authorization: Bearer <key>` with one of the configured keys on every path but the health checks.
public struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: Set<String>

    public init(keys: Set<String>) { self.keys = keys }

    static var openPaths: Set<String> { ["/healthz", "/readyz"] }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !keys.isEmpty, !Self.openPaths.contains(request.uri.path) else { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              keys.contains(String(header.dropFirst("Bearer ".count))) else {
            throw Problem(.unauthorized, type: "urn:tally:problem:unauthorized",
                          detail: "a valid API key is required: send Authorization: Bearer <key>")
        }
        return try await next(request, context)
    }
}
