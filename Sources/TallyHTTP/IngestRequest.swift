import Hummingbird
import TallyConfiguration
import TallyCore

/// Reads and validates the body of an ingest request (`POST /api/v1/events`): content type, size, shape
/// and every event, all or nothing. A node, a worker and the coordinator all accept events through it.
public enum IngestRequest {
    /// The validated events of `request`, each keeping its source text; throws the problem to answer otherwise.
    public static func events(of request: Request, limits: APILimits) async throws -> [CloudEvent] {
        let (allowSingle, allowArray): (Bool, Bool)
        switch request.mediaType {
        case "application/cloudevents+json": (allowSingle, allowArray) = (true, false)
        case "application/cloudevents-batch+json": (allowSingle, allowArray) = (false, true)
        case "application/json": (allowSingle, allowArray) = (true, true)
        default:
            throw Problem(
                .unsupportedMediaType, type: "urn:tally:problem:unsupported-media-type",
                detail: "Content-Type must be application/cloudevents+json, application/cloudevents-batch+json or "
                    + "application/json, got \(request.headers[.contentType].map { "\"\($0.echoed)\"" } ?? "none")",
                errors: [FieldError(field: "Content-Type", reason: "unsupported media type")])
        }
        let (body, texts) = try await request.jsonBodyWithTexts(maxBytes: limits.maxBodyBytes)
        switch EventBatch.validate(
            body, texts: texts, now: .now, allowSingle: allowSingle, allowArray: allowArray,
            maxBatchEvents: limits.maxBatchEvents)
        {
        case .failure(.tooManyEvents(let count, let limit)):
            throw Problem(
                .contentTooLarge, type: "urn:tally:problem:batch-too-large",
                detail: "the batch holds \(count) events; the limit (maxBatchEvents) is \(limit)")
        case .failure(.wrongShape(let error)):
            throw Problem.invalid("\(error.field): \(error.reason)", [error])
        case .failure(.invalidEvents(let errors, let invalidCount)):
            let detail =
                allowArray && body.arrayValue != nil
                ? "\(invalidCount) event(s) of the batch are invalid; nothing was stored"
                : "the event is invalid; nothing was stored"
            throw Problem.invalid(detail, errors)
        case .success(let events):
            return events
        }
    }

    /// The events' source texts joined by commas: the inside of a `application/cloudevents-batch+json` body.
    /// An event that arrived without `time` goes with the time it was given, so its owner counts it at that time.
    public static func joinedTexts(_ events: some Collection<CloudEvent>) -> String {
        var text = ""
        text.reserveCapacity(events.reduce(0) { $0 + ($1.receivedJSON?.utf8.count ?? 256) + 1 })
        for (index, event) in events.enumerated() {
            if index > 0 { text += "," }
            if let received = event.receivedJSON, !event.timeAssigned {
                text += received
            } else {
                text += JSONWriter.string(event.receivedForm)
            }
        }
        return text
    }
}
