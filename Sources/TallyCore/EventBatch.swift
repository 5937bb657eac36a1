/// Validation of an ingest request body: one event or an array of events, all-or-nothing.
public enum EventBatch {
    /// Why a body was refused.
    public enum Rejection: Error, Sendable, Hashable {
        /// The batch holds more than `maxBatchEvents` events.
        case tooManyEvents(count: Int, limit: Int)
        /// The body has the wrong shape (single vs array, empty array).
        case wrongShape(FieldError)
        /// Some events are invalid: every error, and how many events had at least one.
        case invalidEvents(errors: [FieldError], invalidCount: Int)
    }

    /// Validates every event of `body`. `allowSingle`/`allowArray` say which shapes the content type permits.
    /// Field names of errors in arrays are prefixed by the event's index (`[3].time`). `texts`, when given,
    /// are the events' source texts (one per array element, or one for a single event), kept on the events.
    public static func validate(
        _ body: JSONValue, texts: [String]? = nil, now: Timestamp, allowSingle: Bool, allowArray: Bool,
        maxBatchEvents: Int
    ) -> Result<[CloudEvent], Rejection> {
        func received(_ event: CloudEvent, _ index: Int) -> CloudEvent {
            guard let texts, index < texts.count else { return event }
            var event = event
            event.receivedJSON = texts[index]
            return event
        }
        switch body {
        case .array(let items):
            guard allowArray else {
                return .failure(
                    .wrongShape(FieldError(field: "body", reason: "expected a single event object, got an array")))
            }
            guard !items.isEmpty else {
                return .failure(.wrongShape(FieldError(field: "body", reason: "the batch holds no events")))
            }
            guard items.count <= maxBatchEvents else {
                return .failure(.tooManyEvents(count: items.count, limit: maxBatchEvents))
            }
            var events: [CloudEvent] = []
            events.reserveCapacity(items.count)
            var errors: [FieldError] = []
            var invalidCount = 0
            for (index, item) in items.enumerated() {
                switch CloudEvent.validate(item, now: now, fieldPrefix: "[\(index)].") {
                case .success(let event): events.append(received(event, index))
                case .failure(let failure):
                    errors.append(contentsOf: failure.errors)
                    invalidCount += 1
                }
            }
            return errors.isEmpty
                ? .success(events) : .failure(.invalidEvents(errors: errors, invalidCount: invalidCount))
        default:
            guard allowSingle else {
                return .failure(
                    .wrongShape(FieldError(field: "body", reason: "expected an array of events, got \(body.kindName)")))
            }
            return CloudEvent.validate(body, now: now).map { [received($0, 0)] }.mapError {
                .invalidEvents(errors: $0.errors, invalidCount: 1)
            }
        }
    }
}
