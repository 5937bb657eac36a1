import GRDB
import TallyCore

/// An entitlement with everything its balance depends on besides usage.
public struct EntitlementState: Sendable, Hashable {
    public var entitlement: Entitlement
    /// In creation order.
    public var grants: [GrantRecord]
    /// In time order.
    public var resets: [ManualReset]
}

extension ShardStore {
    /// Creates an entitlement of `customer` (and the default grant of `issueAfterReset`), or with `replacing` an
    /// override: the replaced entitlement stops at `now` in the same transaction.
    public func createEntitlement(
        customer: String, _ spec: EntitlementSpec, replacing: String? = nil, now: Timestamp = .now
    ) async throws -> EntitlementState {
        try await commit { db in
            guard let feature = try ShardStore.feature(idOrKey: spec.featureIDOrKey, includeArchived: false, db) else {
                throw EntitlementStoreError.featureNotFound(spec.featureIDOrKey)
            }
            if let replacing {
                guard var old = try ShardStore.entitlement(id: replacing, db) else {
                    throw EntitlementStoreError.entitlementNotFound(replacing)
                }
                if let refusal = EntitlementRules.overrideRefusal(
                    of: old, customer: customer, feature: feature, now: now)
                {
                    throw EntitlementStoreError.invalid(field: refusal.field, reason: refusal.reason)
                }
                old.activeTo = now
                old.updatedAt = now
                try ShardStore.save(old, db)
            }
            if let existing = try ShardStore.entitlements(customer: customer, featureKey: feature.key, db)
                .first(where: { $0.isActive(at: now) })
            {
                throw EntitlementStoreError.entitlementExists(conflictingID: existing.id)
            }
            let state = try ShardStore.newEntitlement(customer: customer, spec, feature: feature, now: now)
            try ShardStore.save(state.entitlement, db)
            for grant in state.grants { try ShardStore.save(grant, db) }
            return state
        }
    }

    private static func newEntitlement(
        customer: String, _ spec: EntitlementSpec, feature: Feature, now: Timestamp
    )
        throws -> EntitlementState
    {
        let id = ULID.make(time: now)
        switch spec.kind {
        case .boolean, .staticConfig:
            let kind: Entitlement.Kind =
                if case .staticConfig(let config) = spec.kind { .staticConfig(config) } else { .boolean }
            let entitlement = Entitlement(
                id: id, customer: customer, feature: feature, kind: kind, usagePeriod: spec.usagePeriod,
                metadata: spec.metadata, createdAt: now)
            return EntitlementState(entitlement: entitlement, grants: [], resets: [])
        case .metered(let from, let soft, let issue, let priority, let preserve):
            guard feature.isMetered else {
                throw EntitlementStoreError.invalid(field: "featureKey", reason: "the feature has no meter")
            }
            guard let usagePeriod = spec.usagePeriod, let current = usagePeriod.period(containing: now) else {
                throw EntitlementStoreError.invalid(field: "usagePeriod", reason: "is required")
            }
            let measureFrom: Timestamp =
                switch from {
                case .time(let time): time
                case .currentPeriodStart: current.from
                case .now: now.minuteFloor
                }
            let terms = Entitlement.MeteredTerms(
                measureUsageFrom: measureFrom, isSoftLimit: soft, issueAfterReset: issue,
                issueAfterResetPriority: priority, preserveOverageAtReset: preserve)
            let entitlement = Entitlement(
                id: id, customer: customer, feature: feature, kind: .metered(terms), usagePeriod: usagePeriod,
                metadata: spec.metadata, createdAt: now)
            guard issue > .zero else { return EntitlementState(entitlement: entitlement, grants: [], resets: []) }
            let periods = UsagePeriods(measureUsageFrom: measureFrom, usagePeriod: usagePeriod, manualResets: [])
            let grant = Grant(
                id: GrantID(ULID.make(time: now)), amount: issue, priority: priority ?? 1,
                effectiveAt: periods.period(at: now)?.from ?? measureFrom, createdAt: now, minRolloverAmount: issue,
                maxRolloverAmount: issue)
            let record = GrantRecord(
                grant: grant, entitlementID: id, customer: customer, expiration: nil, metadata: nil,
                issuedAfterReset: true)
            return EntitlementState(entitlement: entitlement, grants: [record], resets: [])
        }
    }

    /// Entitlements (with grants and resets) of `customer`, or of everyone when nil.
    public func entitlementStates(customer: String? = nil) async throws -> [EntitlementState] {
        try await pool.read { db in
            let entitlements =
                if let customer {
                    try ShardStore.decodeAll(
                        Entitlement.self, db, "SELECT body FROM entitlements WHERE customer = ? ORDER BY id", [customer]
                    )
                } else {
                    try ShardStore.decodeAll(Entitlement.self, db, "SELECT body FROM entitlements ORDER BY id", [])
                }
            return try entitlements.map { try ShardStore.state(of: $0, db) }
        }
    }

    /// The entitlement with this id, with its grants and resets.
    public func entitlementState(id: String) async throws -> EntitlementState? {
        try await pool.read { db in try ShardStore.entitlement(id: id, db).map { try ShardStore.state(of: $0, db) } }
    }

    /// `customer`'s entitlement named by id (any customer's, as upstream) or by feature key (active at `instant`).
    public func entitlementState(
        customer: String, idOrFeatureKey: String, at instant: Timestamp
    ) async throws
        -> EntitlementState?
    {
        try await pool.read { db in
            if let byID = try ShardStore.entitlement(id: idOrFeatureKey, db) {
                return try ShardStore.state(of: byID, db)
            }
            return try ShardStore.entitlements(customer: customer, featureKey: idOrFeatureKey, db)
                .first { $0.isActive(at: instant) }
                .map { try ShardStore.state(of: $0, db) }
        }
    }

    /// Deletes an entitlement at `now` (it stays listed with `includeDeleted`).
    public func deleteEntitlement(id: String, now: Timestamp = .now) async throws {
        try await commit { db in
            guard var entitlement = try ShardStore.entitlement(id: id, db), entitlement.deletedAt == nil else {
                throw EntitlementStoreError.entitlementNotFound(id)
            }
            entitlement.deletedAt = now
            entitlement.updatedAt = now
            try ShardStore.save(entitlement, db)
        }
    }

    /// Adds a grant to a metered entitlement.
    public func createGrant(
        entitlementID: String, _ spec: GrantSpec, now: Timestamp = .now
    ) async throws
        -> GrantRecord
    {
        try await commit { db in
            guard let entitlement = try ShardStore.entitlement(id: entitlementID, db) else {
                throw EntitlementStoreError.entitlementNotFound(entitlementID)
            }
            let resets = try ShardStore.resets(of: entitlementID, db)
            if let refusal = EntitlementRules.grantRefusal(
                effectiveAt: spec.effectiveAt, entitlement: entitlement, resets: resets, now: now)
            {
                throw EntitlementStoreError.invalid(field: refusal.field, reason: refusal.reason)
            }
            let grant = Grant(
                id: GrantID(ULID.make(time: now)), amount: spec.amount, priority: spec.priority,
                effectiveAt: spec.effectiveAt, expiresAt: spec.expiration.flatMap { $0.expiry(from: spec.effectiveAt) },
                createdAt: now, minRolloverAmount: spec.minRolloverAmount, maxRolloverAmount: spec.maxRolloverAmount,
                recurrence: spec.recurrence)
            let record = GrantRecord(
                grant: grant, entitlementID: entitlementID, customer: entitlement.customer,
                expiration: spec.expiration, metadata: spec.metadata)
            try ShardStore.save(record, db)
            return record
        }
    }

    /// Grants of `customer` (everyone's when nil), in creation order.
    public func grants(customer: String? = nil) async throws -> [GrantRecord] {
        try await pool.read { db in
            if let customer {
                return try ShardStore.decodeAll(
                    GrantRecord.self, db, "SELECT body FROM grants WHERE customer = ? ORDER BY id", [customer])
            }
            return try ShardStore.decodeAll(GrantRecord.self, db, "SELECT body FROM grants ORDER BY id", [])
        }
    }

    /// Voids a grant from `at` (floored to the minute): it burns nothing after it; what it paid stays paid. Answers
    /// the grant's customer.
    @discardableResult
    public func voidGrant(id: String, at: Timestamp, now: Timestamp = .now) async throws -> String {
        try await commit { db in
            guard
                var record = try ShardStore.decodeAll(
                    GrantRecord.self, db, "SELECT body FROM grants WHERE id = ?", [id]
                ).first,
                let entitlement = try ShardStore.entitlement(id: record.entitlementID, db)
            else { throw EntitlementStoreError.grantNotFound(id) }
            let resets = try ShardStore.resets(of: entitlement.id, db)
            if let refusal = EntitlementRules.voidRefusal(
                at: at, grant: record.grant, entitlement: entitlement, resets: resets, now: now)
            {
                throw EntitlementStoreError.invalid(field: refusal.field, reason: refusal.reason)
            }
            record.grant.voidedAt = at
            record.updatedAt = now
            try ShardStore.save(record, db)
            return record.customer
        }
    }

    /// Records a manual reset computed from `basis` (requested at `requested`, before flooring). The reset's rules
    /// are checked again against the stored state in the transaction; when the entitlement's grants or resets
    /// changed since `basis` was read it answers false, and the caller computes the reset again.
    public func addReset(
        _ reset: ManualReset, requested: Timestamp, basis: EntitlementState, now: Timestamp = .now
    )
        async throws -> Bool
    {
        try await commit { db in
            let id = basis.entitlement.id
            guard let entitlement = try ShardStore.entitlement(id: id, db) else {
                throw EntitlementStoreError.entitlementNotFound(id)
            }
            let current = try ShardStore.state(of: entitlement, db)
            if let refusal = EntitlementRules.resetRefusal(
                at: reset.at, requested: requested, entitlement: entitlement, resets: current.resets, now: now)
            {
                throw EntitlementStoreError.invalid(field: refusal.field, reason: refusal.reason)
            }
            guard current == basis else { return false }
            try db.execute(
                sql: "INSERT INTO entitlement_resets(entitlement_id, at_us, body) VALUES (?, ?, ?)",
                arguments: [id, reset.at.micros, try EntitlementRecords.encode(reset)])
            return true
        }
    }

    static func state(of entitlement: Entitlement, _ db: Database) throws -> EntitlementState {
        EntitlementState(
            entitlement: entitlement,
            grants: try decodeAll(
                GrantRecord.self, db, "SELECT body FROM grants WHERE entitlement_id = ? ORDER BY id", [entitlement.id]),
            resets: try resets(of: entitlement.id, db))
    }

    static func resets(of entitlementID: String, _ db: Database) throws -> [ManualReset] {
        try decodeAll(
            ManualReset.self, db, "SELECT body FROM entitlement_resets WHERE entitlement_id = ? ORDER BY at_us",
            [entitlementID])
    }

    static func entitlement(id: String, _ db: Database) throws -> Entitlement? {
        try decodeAll(Entitlement.self, db, "SELECT body FROM entitlements WHERE id = ?", [id]).first
    }

    static func entitlements(customer: String, featureKey: String, _ db: Database) throws -> [Entitlement] {
        try decodeAll(
            Entitlement.self, db, "SELECT body FROM entitlements WHERE customer = ? AND feature_key = ? ORDER BY id",
            [customer, featureKey])
    }

    static func save(_ entitlement: Entitlement, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO entitlements(id, customer, feature_key, body) VALUES (?, ?, ?, ?)",
            arguments: [
                entitlement.id, entitlement.customer, entitlement.featureKey,
                try EntitlementRecords.encode(entitlement),
            ])
    }

    static func save(_ record: GrantRecord, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO grants(id, entitlement_id, customer, body) VALUES (?, ?, ?, ?)",
            arguments: [
                record.grant.id.text, record.entitlementID, record.customer, try EntitlementRecords.encode(record),
            ])
    }

    static func decodeAll<T: Decodable>(
        _ type: T.Type, _ db: Database, _ sql: String, _ arguments: [String]
    ) throws
        -> [T]
    {
        try String.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map {
            try EntitlementRecords.decode(type, $0)
        }
    }
}
