/// Validation of an ingest request body: one event or an array of events, all-or-nothing.
public enum EventBatch {
    /// Validates every event of `body`. When `allowSingle`/`allowArray` forbid the shape received, that is an error too.
    /// On failure every invalid event is reported, with field names prefixed by its index (`[3].time`).
    public static func validate(_ body: JSONValue, now: Timestamp, allowSingle: Bool, allowArray: Bool,
                                maxBatchEvents: Int) -> Result<[CloudEvent], ValidationFailure> {
        switch body {
        case .array(let items):
            guard allowArray else {
                return .failure(ValidationFailure([FieldError(field: "body", reason: "expected a single event object, got an array")]))
            }
            guard !items.isEmpty else {
                return .failure(ValidationFailure([FieldError(field: "body", reason: "the batch holds no events")]))
            }
            guard items.count <= maxBatchEvents else {
                return .failure(ValidationFailure([FieldError(field: "body", reason: "the batch holds \(items.count) events; the limit (maxBatchEvents) is \(maxBatchEvents)")]))
            }
            var events: [CloudEvent] = []
            events.reserveCapacity(items.count)
            var errors: [FieldError] = []
            for (index, item) in items.enumerated() {
                switch CloudEvent.validate(item, now: now, fieldPrefix: "[\(index)].") {
                case .success(let event): events.append(event)
                case .failure(let failure): errors.append(contentsOf: failure.errors)
                }
            }
            return errors.isEmpty ? .success(events) : .failure(ValidationFailure(errors))
        default:
            guard allowSingle else {
                return .failure(ValidationFailure([FieldError(field: "body", reason: "expected an array of events, got \(body.kindName)")]))
            }
            return CloudEvent.validate(body, now: now).map { [$0] }
        }
    }
}
