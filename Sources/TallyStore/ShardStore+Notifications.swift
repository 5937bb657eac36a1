import GRDB
import TallyCore

/// Customers whose balances may have moved since the notifier last looked, or `overflowed` when more than
/// `ShardStore.maxTouchedCustomers` did (then it looks at every customer with an entitlement).
struct TouchedCustomers {
    var customers = Set<String>()
    var overflowed = false
}

extension ShardStore {
    /// Most customers remembered between two notifier rounds.
    public static let maxTouchedCustomers = 100_000

    /// Notes customers whose usage changed (every customer with `all`), for the balance notifier.
    public func touchCustomers(_ customers: (some Sequence<String>)?, all: Bool = false) {
        touchedCustomers.withLock { touched in
            if all {
                touched.customers = []
                touched.overflowed = true
            }
            guard !touched.overflowed, let customers else { return }
            for customer in customers {
                touched.customers.insert(customer)
                if touched.customers.count > ShardStore.maxTouchedCustomers {
                    touched.customers = []
                    touched.overflowed = true
                    return
                }
            }
        }
    }

    /// The customers noted since the last call (nil: too many to remember, look at all of them), forgotten here.
    public func takeTouchedCustomers() -> Set<String>? {
        touchedCustomers.withLock { touched in
            defer { touched = TouchedCustomers() }
            return touched.overflowed ? nil : touched.customers
        }
    }

    /// Creates a channel (with a generated secret when the spec has none).
    public func createChannel(_ spec: ChannelSpec, now: Timestamp = .now) async throws -> NotificationChannel {
        let channel = NotificationChannel(id: ULID.make(time: now), spec: spec, createdAt: now)
        try await commit(keepsEnforcement: true) { db in try ShardStore.save(channel, db) }
        return channel
    }

    /// Replaces a live channel's settings (its secret stays when the update has none).
    public func updateChannel(
        id: String, _ spec: ChannelSpec, now: Timestamp = .now
    ) async throws
        -> NotificationChannel
    {
        try await commit(keepsEnforcement: true) { db in
            guard var channel = try ShardStore.channel(id: id, db), channel.deletedAt == nil else {
                throw NotificationStoreError.channelNotFound(id)
            }
            let secret = spec.signingSecret ?? channel.spec.signingSecret
            channel.spec = spec
            channel.spec.signingSecret = secret
            channel.updatedAt = now
            try ShardStore.save(channel, db)
            return channel
        }
    }

    /// Deletes a channel no live rule uses.
    public func deleteChannel(id: String, now: Timestamp = .now) async throws {
        try await commit(keepsEnforcement: true) { db in
            guard var channel = try ShardStore.channel(id: id, db), channel.deletedAt == nil else {
                throw NotificationStoreError.channelNotFound(id)
            }
            if let rule = try ShardStore.rules(db).first(where: { $0.deletedAt == nil && $0.spec.channels.contains(id) }
            ) {
                throw NotificationStoreError.channelInUse(ruleID: rule.id)
            }
            channel.deletedAt = now
            channel.updatedAt = now
            try ShardStore.save(channel, db)
        }
    }

    public func channels() async throws -> [NotificationChannel] {
        try await pool.read { db in
            try ShardStore.decodeAll(
                NotificationChannel.self, db, "SELECT body FROM notification_channels ORDER BY id", [])
        }
    }

    /// Creates or (with `replacing`) updates a rule; its channels must be live and its features exist.
    public func saveRule(
        _ spec: RuleSpec, replacing: String? = nil, now: Timestamp = .now
    ) async throws
        -> NotificationRule
    {
        try await commit(keepsEnforcement: true) { db in
            for (index, id) in spec.channels.enumerated() {
                guard let channel = try ShardStore.channel(id: id, db), channel.deletedAt == nil else {
                    throw NotificationStoreError.invalid(
                        field: "channels[\(index)]", reason: "no live channel \(id.echoed)")
                }
            }
            for (index, idOrKey) in spec.features.enumerated()
            where try ShardStore.feature(idOrKey: idOrKey, includeArchived: true, db) == nil {
                throw NotificationStoreError.invalid(
                    field: "features[\(index)]", reason: "no feature \(idOrKey.echoed)")
            }
            var rule = NotificationRule(id: ULID.make(time: now), spec: spec, createdAt: now)
            if let replacing {
                guard let old = try ShardStore.rules(db).first(where: { $0.id == replacing }) else {
                    throw NotificationStoreError.ruleNotFound(replacing)
                }
                guard old.deletedAt == nil else { throw NotificationStoreError.ruleDeleted(replacing) }
                guard old.spec.kind == spec.kind else {
                    throw NotificationStoreError.invalid(field: "type", reason: "a rule's type cannot change")
                }
                rule.id = old.id
                rule.createdAt = old.createdAt
            }
            try ShardStore.save(rule, db)
            return rule
        }
    }

    /// Deletes a rule: it stays readable, disabled.
    public func deleteRule(id: String, now: Timestamp = .now) async throws {
        try await commit(keepsEnforcement: true) { db in
            guard var rule = try ShardStore.rules(db).first(where: { $0.id == id }), rule.deletedAt == nil else {
                throw NotificationStoreError.ruleNotFound(id)
            }
            rule.deletedAt = now
            rule.updatedAt = now
            try ShardStore.save(rule, db)
        }
    }

    public func rules() async throws -> [NotificationRule] { try await pool.read { db in try ShardStore.rules(db) } }

    /// Stores `events` whose marks (rule × entitlement × period × kind → threshold) are new, in one transaction,
    /// and answers those stored. An event without a mark (a reset, a rule test) is always stored.
    public func recordNotifications(
        _ events: [(event: NotificationEvent, mark: (key: String, threshold: String)?)]
    )
        async throws -> [NotificationEvent]
    {
        guard !events.isEmpty else { return [] }
        return try await commit(keepsEnforcement: true) { db in
            var stored: [NotificationEvent] = []
            for (event, mark) in events {
                if let mark {
                    let last = try String.fetchOne(
                        db, sql: "SELECT threshold FROM notification_marks WHERE key = ?", arguments: [mark.key])
                    guard last != mark.threshold else { continue }
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO notification_marks(key, threshold) VALUES (?, ?)",
                        arguments: [mark.key, mark.threshold])
                }
                try ShardStore.save(event, db)
                stored.append(event)
            }
            return stored
        }
    }

    /// Events with a delivery due at `now`, oldest due first, at most `limit`.
    public func dueNotifications(now: Timestamp, limit: Int) async throws -> [NotificationEvent] {
        try await pool.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT body FROM notification_events WHERE next_attempt_us <= ? ORDER BY next_attempt_us LIMIT ?",
                arguments: [now.micros, limit]
            ).map { try EntitlementRecords.decode(NotificationEvent.self, $0) }
        }
    }

    /// Applies `change` to the stored event (an attempt recorded, a resend) in one transaction.
    public func updateNotification(
        id: String, _ change: @escaping @Sendable (inout NotificationEvent) -> Void
    )
        async throws -> NotificationEvent
    {
        try await commit(keepsEnforcement: true) { db in
            guard var event = try ShardStore.notification(id: id, db) else {
                throw NotificationStoreError.eventNotFound(id)
            }
            change(&event)
            try ShardStore.save(event, db)
            return event
        }
    }

    /// Every stored notification event, oldest first.
    public func notifications() async throws -> [NotificationEvent] {
        try await pool.read { db in
            try ShardStore.decodeAll(
                NotificationEvent.self, db, "SELECT body FROM notification_events ORDER BY created_us, id", [])
        }
    }

    public func notification(id: String) async throws -> NotificationEvent? {
        try await pool.read { db in try ShardStore.notification(id: id, db) }
    }

    static func notification(id: String, _ db: Database) throws -> NotificationEvent? {
        try decodeAll(NotificationEvent.self, db, "SELECT body FROM notification_events WHERE id = ?", [id]).first
    }

    static func channel(id: String, _ db: Database) throws -> NotificationChannel? {
        try decodeAll(NotificationChannel.self, db, "SELECT body FROM notification_channels WHERE id = ?", [id]).first
    }

    static func rules(_ db: Database) throws -> [NotificationRule] {
        try decodeAll(NotificationRule.self, db, "SELECT body FROM notification_rules ORDER BY id", [])
    }

    static func save(_ channel: NotificationChannel, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO notification_channels(id, deleted_us, body) VALUES (?, ?, ?)",
            arguments: [channel.id, channel.deletedAt?.micros, try EntitlementRecords.encode(channel)])
    }

    static func save(_ rule: NotificationRule, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO notification_rules(id, deleted_us, body) VALUES (?, ?, ?)",
            arguments: [rule.id, rule.deletedAt?.micros, try EntitlementRecords.encode(rule)])
    }

    static func save(_ event: NotificationEvent, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO notification_events(id, created_us, next_attempt_us, body) VALUES (?, ?, ?, ?)
                """,
            arguments: [
                event.id, event.createdAt.micros, event.nextAttempt?.micros, try EntitlementRecords.encode(event),
            ])
    }
}

/// Why a channel, rule or notification event request was refused; mapped to problems at the HTTP edge.
public enum NotificationStoreError: Error, Sendable, Equatable {
    case channelNotFound(String)
    /// A live rule still notifies the channel.
    case channelInUse(ruleID: String)
    case ruleNotFound(String)
    /// The rule is deleted: it can be read, not changed.
    case ruleDeleted(String)
    case eventNotFound(String)
    case invalid(field: String, reason: String)
}
