import TallyCore
import TallyStore

/// What the entitlement routes run on. A node implements it over its shard store (`LocalBackend`).
public protocol EntitlementBackend: FeatureBackend {
    /// Who `/api/v2/customers/{customerIdOrKey}` (and the v1 customer value route) acts for.
    func owner(customerIDOrKey: String) async throws -> UsageOwner
    /// Who `/api/v1/subjects/{subjectKey}` acts for.
    func owner(subjectKey: String) async throws -> UsageOwner
    /// Creates an entitlement; with `replacing`, an override that ends the replaced one now.
    func createEntitlement(
        customer: String, _ spec: EntitlementSpec, replacing: String?
    ) async throws
        -> EntitlementState
    /// Entitlements of `customer`, or of every customer when nil.
    func entitlementStates(customer: String?) async throws -> [EntitlementState]
    func entitlementState(id: String) async throws -> EntitlementState?
    /// By id (any customer's), else `customer`'s entitlement to the feature key active at `instant`.
    func entitlementState(
        customer: String, idOrFeatureKey: String, at instant: Timestamp
    ) async throws
        -> EntitlementState?
    func deleteEntitlement(id: String) async throws
    func createGrant(entitlementID: String, _ spec: GrantSpec) async throws -> GrantRecord
    /// Grants of `customer`, or of every customer when nil.
    func grants(customer: String?) async throws -> [GrantRecord]
    func voidGrant(id: String, at: Timestamp) async throws
    func meteredValue(_ state: EntitlementState, at instant: Timestamp) async throws -> MeteredValue
    /// Resets the usage period at `instant` (`requested`, floored); the reset's rules are checked where it is stored.
    func reset(
        _ state: EntitlementState, at instant: Timestamp, requested: Timestamp, retainAnchor: Bool,
        preserveOverage: Bool
    ) async throws
    func balanceHistory(
        _ state: EntitlementState, from: Timestamp, to: Timestamp, windows: [TimePeriod]
    )
        async throws -> BalanceHistory
}

/// A node's entitlements over its shard store. Changes that can move a balance (usage, grants, voids, resets, new
/// entitlements) mark the customer for the next round of the `NotificationService`.
extension LocalBackend: EntitlementBackend {
    /// Attempts of a reset whose entitlement changed while its snapshot was computed.
    static let maxResetAttempts = 3

    public func owner(customerIDOrKey: String) async throws -> UsageOwner {
        try await store.owner(customerIDOrKey: customerIDOrKey)
    }

    public func owner(subjectKey: String) async throws -> UsageOwner { try await store.owner(subjectKey: subjectKey) }

    public func createFeature(_ spec: FeatureSpec) async throws -> Feature { try await store.createFeature(spec) }

    public func features(includeArchived: Bool) async throws -> [Feature] {
        try await store.features(includeArchived: includeArchived)
    }

    public func feature(idOrKey: String, includeArchived: Bool) async throws -> Feature? {
        try await store.feature(idOrKey: idOrKey, includeArchived: includeArchived)
    }

    public func archiveFeature(idOrKey: String) async throws { try await store.archiveFeature(idOrKey: idOrKey) }

    public func createEntitlement(
        customer: String, _ spec: EntitlementSpec, replacing: String?
    ) async throws
        -> EntitlementState
    {
        let state = try await store.createEntitlement(customer: customer, spec, replacing: replacing)
        store.touchCustomers([customer])
        return state
    }

    public func entitlementStates(customer: String?) async throws -> [EntitlementState] {
        try await store.entitlementStates(customer: customer)
    }

    public func entitlementState(id: String) async throws -> EntitlementState? {
        try await store.entitlementState(id: id)
    }

    public func entitlementState(
        customer: String, idOrFeatureKey: String, at instant: Timestamp
    ) async throws
        -> EntitlementState?
    {
        try await store.entitlementState(customer: customer, idOrFeatureKey: idOrFeatureKey, at: instant)
    }

    public func deleteEntitlement(id: String) async throws { try await store.deleteEntitlement(id: id) }

    public func createGrant(entitlementID: String, _ spec: GrantSpec) async throws -> GrantRecord {
        let record = try await store.createGrant(entitlementID: entitlementID, spec)
        store.touchCustomers([record.customer])
        return record
    }

    public func grants(customer: String?) async throws -> [GrantRecord] { try await store.grants(customer: customer) }

    public func voidGrant(id: String, at: Timestamp) async throws {
        let customer = try await store.voidGrant(id: id, at: at)
        store.touchCustomers([customer])
    }

    public func meteredValue(_ state: EntitlementState, at instant: Timestamp) async throws -> MeteredValue {
        try await store.meteredValue(state, at: instant)
    }

    public func balanceHistory(
        _ state: EntitlementState, from: Timestamp, to: Timestamp, windows: [TimePeriod]
    )
        async throws -> BalanceHistory
    {
        try await store.balanceHistory(state, from: from, to: to, windows: windows)
    }

    public func reset(
        _ state: EntitlementState, at instant: Timestamp, requested: Timestamp, retainAnchor: Bool,
        preserveOverage: Bool
    ) async throws {
        var basis = state
        for _ in 0..<LocalBackend.maxResetAttempts {
            let snapshot = try await store.snapshotAfterReset(basis, at: instant, preserveOverage: preserveOverage)
            let reset = ManualReset(
                at: instant, retainAnchor: retainAnchor, preserveOverage: preserveOverage, snapshot: snapshot)
            if try await store.addReset(reset, requested: requested, basis: basis) {
                // The reset stands; a notification that cannot be stored is logged, not answered as a failure.
                do {
                    if let after = try await store.entitlementState(id: state.entitlement.id) {
                        try await BalanceNotifier(store: store, logger: store.logger).resetHappened(after)
                    }
                } catch {
                    store.logger.error("reset notification not stored", metadata: ["error": "\(error)"])
                }
                store.touchCustomers([state.entitlement.customer])
                return
            }
            guard let fresh = try await store.entitlementState(id: state.entitlement.id) else {
                throw EntitlementStoreError.entitlementNotFound(state.entitlement.id)
            }
            basis = fresh
        }
        throw EntitlementStoreError.invalid(
            field: "effectiveAt", reason: "the entitlement kept changing while the reset was computed; retry")
    }
}
