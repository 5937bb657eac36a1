import Logging
import TallyCore
import TallyStore

/// Evaluates the balance-threshold and reset rules and stores the notifications they fire in the outbox (delivered
/// by `WebhookDelivery`). Each threshold fires once per rule, entitlement, usage period and kind (usage or
/// balance); moving to another threshold of the same kind fires again.
public struct BalanceNotifier: Sendable {
    let store: ShardStore
    let logger: Logger

    public init(store: ShardStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Evaluates the active metered entitlements the usage of `customers` (subject or owner keys; every customer
    /// when nil) can move at `now`; answers how many notifications were stored.
    @discardableResult
    public func evaluate(customers: Set<String>?, now: Timestamp = .now) async throws -> Int {
        let rules = try await store.rules().filter {
            $0.deletedAt == nil && !$0.spec.disabled && $0.spec.kind == .balanceThreshold
        }
        guard !rules.isEmpty else { return 0 }
        var states: [EntitlementState] = []
        if let customers {
            for owner in try await store.ownerKeys(touching: customers).sorted() {
                states += try await store.entitlementStates(customer: owner)
            }
        } else {
            states = try await store.entitlementStates()
        }
        let channels = Set(try await store.channels().filter { $0.deletedAt == nil && !$0.spec.disabled }.map(\.id))
        var fired: [(event: NotificationEvent, mark: (key: String, threshold: String)?)] = []
        let instant = now.minuteCeiling
        for state in states where state.entitlement.meteredTerms != nil && state.entitlement.isActive(at: now) {
            // One entitlement whose value cannot be computed (its meter deleted, an overflow) is skipped, not the
            // round: the others still notify.
            do {
                fired += try await crossings(of: state, rules: rules, channels: channels, at: instant, now: now)
            } catch {
                logger.warning(
                    "threshold evaluation skipped an entitlement",
                    metadata: ["entitlement": "\(state.entitlement.id)", "error": "\(error)"])
            }
        }
        return try await store.recordNotifications(fired).count
    }

    /// The threshold notifications of one entitlement's value at `instant` (a whole minute; its usage period too).
    private func crossings(
        of state: EntitlementState, rules: [NotificationRule], channels: Set<String>, at instant: Timestamp,
        now: Timestamp
    ) async throws -> [(event: NotificationEvent, mark: (key: String, threshold: String)?)] {
        guard let feature = try await store.feature(idOrKey: state.entitlement.featureID, includeArchived: true) else {
            return []
        }
        let watching = rules.filter { $0.watches(feature) && $0.spec.channels.contains(where: channels.contains) }
        guard !watching.isEmpty, let period = Self.period(of: state, at: instant) else { return [] }
        let value = try await store.meteredValue(state, at: instant)
        var fired: [(event: NotificationEvent, mark: (key: String, threshold: String)?)] = []
        for rule in watching {
            for threshold in rule.spec.crossed(by: value) {
                let id = ULID.make(time: now)
                let event = NotificationEvent(
                    id: id, type: .balanceThreshold, createdAt: now, ruleID: rule.id,
                    customer: state.entitlement.customer, featureKey: feature.key,
                    payload: Self.payload(
                        id: id, type: .balanceThreshold, state: state, feature: feature, value: value,
                        threshold: threshold, now: now),
                    channels: rule.spec.channels.filter(channels.contains),
                    annotations: Self.annotations(state, feature))
                let kind = threshold.isBalance ? "balance" : "usage"
                let key = "\(rule.id)|\(state.entitlement.id)|\(period.from.micros)|\(kind)"
                fired.append((event, (key, "\(threshold.type):\(threshold.value)")))
            }
        }
        return fired
    }

    /// Stores the `entitlements.reset` notifications of a manual reset of `state` (read after the reset).
    public func resetHappened(_ state: EntitlementState, now: Timestamp = .now) async throws {
        let rules = try await store.rules().filter {
            $0.deletedAt == nil && !$0.spec.disabled && $0.spec.kind == .reset
        }
        guard !rules.isEmpty, let reset = state.resets.last,
            let feature = try await store.feature(idOrKey: state.entitlement.featureID, includeArchived: true)
        else { return }
        let channels = Set(try await store.channels().filter { $0.deletedAt == nil && !$0.spec.disabled }.map(\.id))
        let value = try await store.meteredValue(state, at: reset.at)
        let live = rules.filter { $0.watches(feature) && $0.spec.channels.contains(where: channels.contains) }
        let fired = live.map { rule in
            let id = ULID.make(time: now)
            let event = NotificationEvent(
                id: id, type: .reset, createdAt: now, ruleID: rule.id,
                customer: state.entitlement.customer, featureKey: feature.key,
                payload: Self.payload(
                    id: id, type: .reset, state: state, feature: feature, value: value, threshold: nil, now: now),
                channels: rule.spec.channels.filter(channels.contains), annotations: Self.annotations(state, feature))
            let key = "\(rule.id)|\(state.entitlement.id)|\(reset.at.micros)|reset"
            return (event: event, mark: Optional((key: key, threshold: "reset")))
        }
        _ = try await store.recordNotifications(fired)
    }

    static func period(of state: EntitlementState, at now: Timestamp) -> TimePeriod? {
        state.entitlement.usagePeriods(resets: state.resets)?.period(at: now)
    }

    static func annotations(_ state: EntitlementState, _ feature: Feature) -> [String: String] {
        ["event.subject.key": state.entitlement.customer, "event.feature.key": feature.key]
    }

    /// Upstream's webhook payload: `{id, type, timestamp, data: {entitlement, feature, subject, value, threshold}}`;
    /// its `id` is the event's (and the `webhook-id` header's).
    static func payload(
        id: String, type: RuleSpec.Kind, state: EntitlementState, feature: Feature, value: MeteredValue,
        threshold: Threshold?,
        now: Timestamp
    ) -> String {
        var data: JSONObject = [
            "entitlement": state.entitlement.json(resets: state.resets, now: now), "feature": feature.json,
            "subject": .object(["key": .string(state.entitlement.customer)]), "value": value.json(version: .v1),
        ]
        if let threshold { data["threshold"] = threshold.json }
        return JSONWriter.string(
            .object([
                "id": .string(id), "type": .string(type.rawValue), "timestamp": .string(now.description),
                "data": .object(data),
            ]))
    }
}
