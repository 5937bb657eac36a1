import TallyCore

/// Decoding of the raw events table's `body` column (the event as received) with its `time_us` column,
/// which holds the time given to an event that arrived without one.
enum StoredEvent {
    static func decode(_ body: String, timeMicros: Int64) -> CloudEvent? {
        guard let json = try? JSONParser.parse(body),
            case .success(var event) = CloudEvent.validate(
                json, now: Timestamp(micros: timeMicros), checkingSizes: false)
        else {
            return nil
        }
        event.receivedJSON = body
        return event
    }

    /// The stored event and its sample when `meter` counts it (matches it and can read its value); nil otherwise.
    static func sampled(_ body: String, timeMicros: Int64, by meter: MeterDefinition) -> (CloudEvent, MeterSample)? {
        guard let event = decode(body, timeMicros: timeMicros), meter.matches(event),
            case .success(let sample) = meter.sample(event)
        else { return nil }
        return (event, sample)
    }
}
