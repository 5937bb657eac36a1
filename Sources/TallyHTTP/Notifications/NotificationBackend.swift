import Foundation
import TallyCore
import TallyStore

/// What the notification routes run on. A node implements it over its shard store (`LocalBackend`).
public protocol NotificationBackend: Sendable {
    func createChannel(_ spec: ChannelSpec) async throws -> NotificationChannel
    func updateChannel(id: String, _ spec: ChannelSpec) async throws -> NotificationChannel
    func deleteChannel(id: String) async throws
    func channels() async throws -> [NotificationChannel]
    func saveRule(_ spec: RuleSpec, replacing: String?) async throws -> NotificationRule
    func deleteRule(id: String) async throws
    func rules() async throws -> [NotificationRule]
    /// Stores an event with made-up values for the rule's channels (`notification.rule.test` annotation).
    func testRule(_ rule: NotificationRule) async throws -> NotificationEvent
    func notifications() async throws -> [NotificationEvent]
    func notification(id: String) async throws -> NotificationEvent?
    /// Delivers the event again to `channels` (every channel when empty) whose delivery was attempted.
    func resend(id: String, channels: [String]) async throws
}

extension LocalBackend: NotificationBackend {
    public func createChannel(_ spec: ChannelSpec) async throws -> NotificationChannel {
        var spec = spec
        if spec.signingSecret == nil {
            var generator = SystemRandomNumberGenerator()
            let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            spec.signingSecret = "whsec_" + Data(key).base64EncodedString()
        }
        return try await store.createChannel(spec)
    }

    public func updateChannel(id: String, _ spec: ChannelSpec) async throws -> NotificationChannel {
        try await store.updateChannel(id: id, spec)
    }

    public func deleteChannel(id: String) async throws { try await store.deleteChannel(id: id) }

    public func channels() async throws -> [NotificationChannel] { try await store.channels() }

    public func saveRule(_ spec: RuleSpec, replacing: String?) async throws -> NotificationRule {
        try await store.saveRule(spec, replacing: replacing)
    }

    public func deleteRule(id: String) async throws { try await store.deleteRule(id: id) }

    public func rules() async throws -> [NotificationRule] { try await store.rules() }

    public func testRule(_ rule: NotificationRule) async throws -> NotificationEvent {
        let now = Timestamp.now
        let id = ULID.make(time: now)
        var data: JSONObject = [
            "subject": .object(["key": .string("test-subject")]),
            "value": .object([
                "hasAccess": .bool(true), "balance": .number("20"), "usage": .number("80"), "overage": .number("0"),
                "totalAvailableGrantAmount": .number("100"),
            ]),
        ]
        if let threshold = rule.spec.thresholds.first { data["threshold"] = threshold.json }
        let payload = JSONWriter.string(
            .object([
                "id": .string(id), "type": .string(rule.spec.kind.rawValue), "timestamp": .string(now.description),
                "data": .object(data),
            ]))
        let event = NotificationEvent(
            id: id, type: rule.spec.kind, createdAt: now, ruleID: rule.id, customer: "test-subject",
            featureKey: "", payload: payload, channels: rule.spec.channels,
            annotations: ["notification.rule.test": "true"])
        _ = try await store.recordNotifications([(event, nil)])
        return event
    }

    public func notifications() async throws -> [NotificationEvent] { try await store.notifications() }

    public func notification(id: String) async throws -> NotificationEvent? { try await store.notification(id: id) }

    public func resend(id: String, channels: [String]) async throws {
        let now = Timestamp.now
        _ = try await store.updateNotification(id: id) { event in
            for index in event.deliveries.indices
            where (channels.isEmpty || channels.contains(event.deliveries[index].channelID))
                && [.sending, .success, .failed].contains(event.deliveries[index].state)
            {
                event.deliveries[index].state = .resending
                event.deliveries[index].nextAttempt = now
                event.deliveries[index].updatedAt = now
            }
        }
    }
}
