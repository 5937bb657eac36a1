import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TallyCore
import TallyStore

/// Turns every error a handler throws into an RFC 7807 problem response, so no error leaves the
/// server in another shape: 404 for unknown routes, 413 for oversized bodies, 500 for the unexpected.
public struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            throw problem
        } catch let error as ProblemRepresentable {
            throw error.problem
        } catch is NIOTooManyBytesError {
            throw Problem(
                .contentTooLarge, type: "urn:tally:problem:body-too-large",
                detail: "the request body exceeds the limit (maxBodyBytes)")
        } catch StoreError.meterNotFound(let idOrSlug) {
            throw Problem.meterNotFound(idOrSlug)
        } catch StoreError.slugTaken(let slug) {
            throw Problem(
                .conflict, type: "urn:tally:problem:meter-exists",
                detail: "a meter with slug \"\(slug)\" already exists",
                errors: [FieldError(field: "slug", reason: "already used by another meter")])
        } catch StoreError.overloaded {
            throw Problem(
                .serviceUnavailable, type: "urn:tally:problem:overloaded",
                detail: "the ingest queue is full (maxQueuedBatches); nothing was stored, retry shortly")
        } catch StoreError.aggregatesBehind {
            throw Problem(
                .serviceUnavailable, type: "urn:tally:problem:overloaded",
                detail: "aggregates are behind ingestion (maxPendingAggregateKeysBeforeRefusal); nothing was stored, "
                    + "retry shortly")
        } catch StoreError.diskFull {
            throw Problem(
                .init(code: 507, reasonPhrase: "Insufficient Storage"), type: "urn:tally:problem:disk-full",
                detail: "the disk is full; nothing of this request was applied. Retry once space is freed")
        } catch StoreError.meterBuilding(let slug, let progress) {
            throw Problem.meterBuilding(slug: slug, progress: progress)
        } catch StoreError.writeFailed(let reason) {
            context.logger.error("write failed", metadata: ["error": "\(reason)", "path": "\(request.uri.path)"])
            throw Problem(
                .serviceUnavailable, type: "urn:tally:problem:write-failed",
                detail: "the store could not write; nothing of this request was applied. Retry shortly")
        } catch let overflow as QueryOverflow {
            throw Problem(
                .unprocessableContent, type: "urn:tally:problem:value-overflow",
                detail: "meter \(overflow.meterSlug): the value of the window \(overflow.windowStart) to "
                    + "\(overflow.windowEnd) does not fit in an exact decimal (about ±1.7e29); "
                    + "query shorter windows or group further",
                errors: [FieldError(field: "windowSize", reason: "a window's value overflows")])
        } catch let tooLarge as QueryTooLarge {
            throw Problem(
                .unprocessableContent, type: "urn:tally:problem:query-too-large",
                detail: "meter \(tooLarge.meterSlug): the query reads more than \(tooLarge.limit) distinct values "
                    + "(maxDistinctValueEntries); query a shorter range or fewer subjects",
                errors: [FieldError(field: "from", reason: "the range holds too many distinct values")])
        } catch let error as HTTPParserError {
            throw Problem(
                .badRequest, type: "urn:tally:problem:malformed-request",
                detail: "the request could not be read as HTTP/1.1: \(error)",
                errors: [FieldError(field: "body", reason: "malformed HTTP message (\(error))")])
        } catch let error as HTTPError {
            let field = error.status == .notFound ? "path" : "request"
            throw Problem(
                error.status, type: "urn:tally:problem:http", detail: error.body ?? error.status.reasonPhrase,
                errors: [
                    FieldError(
                        field: field, reason: error.status == .notFound ? "no such route" : error.status.reasonPhrase)
                ])
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw Problem(
                .internalServerError, type: "urn:tally:problem:internal",
                detail: "internal error; nothing of this request was applied")
        }
    }
}
