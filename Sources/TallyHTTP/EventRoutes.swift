import Hummingbird
import TallyCore
import TallyStore

/// `POST /api/v1/events` (ingest) and `GET /api/v1/events` (list).
struct EventRoutes {
    let store: ShardStore
    let limits: APILimits
    /// How far back `GET /api/v1/events` looks when `from` is not given, in seconds (upstream: 72 hours).
    static let defaultListWindowSeconds: Int64 = 72 * 3600

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/events") { request, _ in try await ingest(request) }
        router.get("/api/v1/events") { request, _ in try await list(request) }
    }

    private func ingest(_ request: Request) async throws -> Response {
        let (allowSingle, allowArray): (Bool, Bool)
        switch request.mediaType {
        case "application/cloudevents+json": (allowSingle, allowArray) = (true, false)
        case "application/cloudevents-batch+json": (allowSingle, allowArray) = (false, true)
        case "application/json": (allowSingle, allowArray) = (true, true)
        default:
            throw Problem(.unsupportedMediaType, type: "urn:tally:problem:unsupported-media-type",
                          detail: "Content-Type must be application/cloudevents+json, application/cloudevents-batch+json or application/json, got \(request.headers[.contentType] ?? "none")")
        }
        let (body, texts) = try await request.jsonBodyWithTexts(maxBytes: limits.maxBodyBytes)
        switch EventBatch.validate(body, texts: texts, now: .now, allowSingle: allowSingle, allowArray: allowArray, maxBatchEvents: limits.maxBatchEvents) {
        case .failure(.tooManyEvents(let count, let limit)):
            throw Problem(.contentTooLarge, type: "urn:tally:problem:batch-too-large",
                          detail: "the batch holds \(count) events; the limit (maxBatchEvents) is \(limit)")
        case .failure(.wrongShape(let error)):
            throw Problem.invalid("\(error.field): \(error.reason)", [error])
        case .failure(.invalidEvents(let errors, let invalidCount)):
            let detail = allowArray && body.arrayValue != nil
                ? "\(invalidCount) event(s) of the batch are invalid; nothing was stored"
                : "the event is invalid; nothing was stored"
            throw Problem.invalid(detail, errors)
        case .success(let events):
            try await store.ingest(events)
            return Response(status: .noContent)
        }
    }

    private func list(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        var errors: [FieldError] = []
        func time(_ name: String) -> Timestamp? {
            guard let text = parameters[Substring(name)] else { return nil }
            guard let value = Timestamp(rfc3339: text) else {
                errors.append(FieldError(field: name, reason: "must be an RFC 3339 date-time"))
                return nil
            }
            return value
        }
        let now = Timestamp.now
        var filter = EventFilter(from: time("from") ?? Timestamp(micros: now.micros - EventRoutes.defaultListWindowSeconds * Timestamp.microsPerSecond))
        filter.to = time("to")
        filter.ingestedAtFrom = time("ingestedAtFrom")
        filter.ingestedAtTo = time("ingestedAtTo")
        filter.id = parameters["id"].map(String.init)
        filter.subject = parameters["subject"].map(String.init)
        if let limit = parameters["limit"] {
            if let value = Int(limit), (1...EventFilter.maxLimit).contains(value) {
                filter.limit = value
            } else {
                errors.append(FieldError(field: "limit", reason: "must be an integer from 1 to \(EventFilter.maxLimit)"))
            }
        }
        if !parameters[values: "customerId"].isEmpty {
            errors.append(FieldError(field: "customerId", reason: "Tally has no customer entities; filter by subject instead"))
        }
        guard errors.isEmpty else { throw Problem.invalid("invalid event listing parameters", errors) }
        let events = try await store.listEvents(filter)
        return Response.json(.array(events.map { item in
            var members: JSONObject = [
                "event": item.event.receivedForm,
                "ingestedAt": .string(item.ingestedAt.description),
                "storedAt": .string(item.ingestedAt.description),
            ]
            if !item.validationErrors.isEmpty {
                members["validationError"] = .string(item.validationErrors.joined(separator: "; "))
                members["validationErrors"] = .array(item.validationErrors.map { .object(["message": .string($0)]) })
            }
            return .object(members)
        }))
    }
}
