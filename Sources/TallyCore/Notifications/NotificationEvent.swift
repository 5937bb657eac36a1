/// A notification as stored in the outbox: what happened (its payload) and its delivery to each channel.
public struct NotificationEvent: Sendable, Hashable, Codable {
    /// One channel's delivery: upstream's `PENDING → SENDING → SUCCESS | FAILED`, with every attempt.
    public struct Delivery: Sendable, Hashable, Codable {
        public enum State: String, Sendable, Hashable, Codable {
            case pending = "PENDING"
            case sending = "SENDING"
            case success = "SUCCESS"
            case failed = "FAILED"
            case resending = "RESENDING"
        }

        public var channelID: String
        public var state: State
        public var reason: String
        public var updatedAt: Timestamp
        /// When the next attempt is due; nil once delivered or given up.
        public var nextAttempt: Timestamp?
        public var attempts: [Attempt]

        public init(channelID: String, at instant: Timestamp) {
            self.channelID = channelID
            state = .pending
            reason = ""
            updatedAt = instant
            nextAttempt = instant
            attempts = []
        }
    }

    /// One HTTP attempt: its outcome, the receiver's status code (nil when none came) and how long it took.
    public struct Attempt: Sendable, Hashable, Codable {
        public var success: Bool
        public var timestamp: Timestamp
        public var statusCode: Int?
        public var body: String
        public var durationMs: Int64

        public init(success: Bool, timestamp: Timestamp, statusCode: Int?, body: String, durationMs: Int64) {
            self.success = success
            self.timestamp = timestamp
            self.statusCode = statusCode
            self.body = body
            self.durationMs = durationMs
        }
    }

    public var id: String
    public var type: RuleSpec.Kind
    public var createdAt: Timestamp
    public var ruleID: String
    public var customer: String
    public var featureKey: String
    /// The webhook body, JSON text (the same bytes on every attempt).
    public var payload: String
    public var deliveries: [Delivery]
    public var annotations: [String: String]

    public init(
        id: String, type: RuleSpec.Kind, createdAt: Timestamp, ruleID: String, customer: String, featureKey: String,
        payload: String, channels: [String], annotations: [String: String]
    ) {
        self.id = id
        self.type = type
        self.createdAt = createdAt
        self.ruleID = ruleID
        self.customer = customer
        self.featureKey = featureKey
        self.payload = payload
        var seen = Set<String>()
        self.deliveries = channels.filter { seen.insert($0).inserted }.map { Delivery(channelID: $0, at: createdAt) }
        self.annotations = annotations
    }

    /// The earliest attempt due, if any.
    public var nextAttempt: Timestamp? { deliveries.compactMap(\.nextAttempt).min() }

    /// Records an attempt on `channelID`'s delivery and schedules the next one (`DeliveryPolicy`).
    public mutating func record(_ attempt: Attempt, channelID: String) {
        guard let index = deliveries.firstIndex(where: { $0.channelID == channelID }) else { return }
        var delivery = deliveries[index]
        delivery.attempts.append(attempt)
        if delivery.state == .resending, delivery.updatedAt > attempt.timestamp {
            // Resent while this attempt was under way: the resend still goes out.
            deliveries[index] = delivery
            return
        }
        delivery.updatedAt = attempt.timestamp
        if attempt.success {
            delivery.state = .success
            delivery.reason = ""
            delivery.nextAttempt = nil
        } else if let next = DeliveryPolicy.nextAttempt(after: delivery.attempts.count, at: attempt.timestamp) {
            delivery.state = .sending
            delivery.reason =
                "attempt \(delivery.attempts.count) failed: \(attempt.statusCode.map(String.init) ?? attempt.body)"
            delivery.nextAttempt = next
        } else {
            delivery.state = .failed
            delivery.reason = "gave up after \(delivery.attempts.count) attempts"
            delivery.nextAttempt = nil
        }
        deliveries[index] = delivery
    }

    /// Upstream `NotificationEvent`, with the rule as given.
    public func json(rule: JSONValue) -> JSONValue {
        let deliveryStatus = deliveries.map { delivery -> JSONValue in
            var members: JSONObject = [
                "channel": .object(["id": .string(delivery.channelID), "type": .string("WEBHOOK")]),
                "state": .string(delivery.state.rawValue), "reason": .string(delivery.reason),
                "updatedAt": .string(delivery.updatedAt.description),
                "attempts": .array(
                    delivery.attempts.map { attempt in
                        var response: JSONObject = [
                            "body": .string(attempt.body), "durationMs": .number("\(attempt.durationMs)"),
                        ]
                        if let code = attempt.statusCode { response["statusCode"] = .number("\(code)") }
                        return .object([
                            "state": .string(attempt.success ? "SUCCESS" : "FAILED"),
                            "timestamp": .string(attempt.timestamp.description), "response": .object(response),
                        ])
                    }),
            ]
            if let next = delivery.nextAttempt { members["nextAttempt"] = .string(next.description) }
            return .object(members)
        }
        return .object([
            "id": .string(id), "type": .string(type.rawValue), "createdAt": .string(createdAt.description),
            "rule": rule, "deliveryStatus": .array(deliveryStatus),
            "payload": (try? JSONParser.parse(payload)) ?? .null,
            "annotations": .object(JSONObject(annotations) { .string($0) }),
        ])
    }
}

/// When a failed webhook is tried again: after 1 s, then twice as long each time, up to `maxAttempts` attempts.
public enum DeliveryPolicy {
    /// Attempts before a delivery is given up (`FAILED`).
    public static let maxAttempts = 8
    /// Wait before the second attempt; each later wait doubles.
    public static let firstRetryDelayMicros: Int64 = 1_000_000

    /// When attempt `attempts + 1` is due after attempt `attempts` failed at `instant`; nil to give up.
    public static func nextAttempt(after attempts: Int, at instant: Timestamp) -> Timestamp? {
        guard attempts < maxAttempts else { return nil }
        return Timestamp(micros: instant.micros + firstRetryDelayMicros << Int64(max(0, attempts - 1)))
    }
}
