import Hummingbird
import Logging
import NIOCore
import TallyCore
import TallyStore

/// Turns every error a handler throws into an RFC 7807 problem response, so no error leaves the
/// server in another shape: 404 for unknown routes, 413 for oversized bodies, 500 for the unexpected.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, type: "urn:tally:problem:body-too-large", detail: "the request body exceeds the limit (maxBodyBytes)")
        } catch StoreError.meterNotFound(let idOrSlug) {
            throw Problem.meterNotFound(idOrSlug)
        } catch StoreError.slugTaken(let slug) {
            throw Problem(.conflict, type: "urn:tally:problem:meter-exists", detail: "a meter with slug \"\(slug)\" already exists",
                          errors: [FieldError(field: "slug", reason: "already used by another meter")])
        } catch StoreError.overloaded {
            throw Problem(.serviceUnavailable, type: "urn:tally:problem:overloaded",
                          detail: "the ingest queue is full (maxQueuedBatches); nothing was stored, retry shortly")
        } catch let error as HTTPError {
            throw Problem(error.status, type: "urn:tally:problem:http", detail: error.body ?? error.status.reasonPhrase)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw Problem(.internalServerError, type: "urn:tally:problem:internal", detail: "internal error; nothing of this request was applied")
        }
    }
}
