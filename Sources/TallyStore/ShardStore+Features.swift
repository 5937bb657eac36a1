import GRDB
import TallyCore

extension ShardStore {
    /// Creates a feature. Its meter must exist and aggregate with SUM, COUNT, UNIQUE_COUNT or LATEST.
    public func createFeature(_ spec: FeatureSpec, now: Timestamp = .now) async throws -> Feature {
        if let slug = spec.meterSlug {
            guard let meter = meter(idOrSlug: slug) else { throw EntitlementStoreError.meterNotFound(slug) }
            guard [.sum, .count, .uniqueCount, .latest].contains(meter.aggregation) else {
                throw EntitlementStoreError.meterAggregationUnsupported(meter.aggregation.rawValue)
            }
            if spec.enforcement == .reject, ![.sum, .count].contains(meter.aggregation) {
                throw EntitlementStoreError.invalid(
                    field: "enforcement",
                    reason:
                        "reject needs a SUM or COUNT meter; \(meter.slug) aggregates with \(meter.aggregation.rawValue)"
                )
            }
            for key in (spec.meterGroupByFilters ?? [:]).keys.sorted() where meter.groupBy[key] == nil {
                throw EntitlementStoreError.invalid(
                    field: "meterGroupByFilters.\(key.echoed)", reason: "is not a group of meter \(meter.slug)")
            }
        }
        let feature = Feature(id: ULID.make(time: now), spec: spec, createdAt: now)
        let body = JSONWriter.string(feature.json)
        return try await commit { db in
            guard
                try Int.fetchOne(
                    db, sql: "SELECT 1 FROM features WHERE key = ? AND archived_us IS NULL", arguments: [spec.key])
                    == nil
            else { throw EntitlementStoreError.featureKeyTaken(spec.key) }
            try db.execute(
                sql: "INSERT INTO features(id, key, archived_us, body) VALUES (?, ?, NULL, ?)",
                arguments: [feature.id, feature.key, body])
            return feature
        }
    }

    /// Every feature, archived ones when asked, in creation order.
    public func features(includeArchived: Bool) async throws -> [Feature] {
        try await pool.read { db in
            let sql =
                "SELECT body FROM features" + (includeArchived ? "" : " WHERE archived_us IS NULL") + " ORDER BY id"
            return try String.fetchAll(db, sql: sql).compactMap { ShardStore.feature(fromBody: $0) }
        }
    }

    /// The feature with this id (archived too when `includeArchived`) or the live one with this key.
    public func feature(idOrKey: String, includeArchived: Bool = false) async throws -> Feature? {
        try await pool.read { db in try ShardStore.feature(idOrKey: idOrKey, includeArchived: includeArchived, db) }
    }

    /// Archives a live feature: it takes no new entitlements; existing ones keep working.
    public func archiveFeature(idOrKey: String, now: Timestamp = .now) async throws {
        try await commit { db in
            guard var feature = try ShardStore.feature(idOrKey: idOrKey, includeArchived: false, db) else {
                throw EntitlementStoreError.featureNotFound(idOrKey)
            }
            feature.archivedAt = now
            feature.updatedAt = now
            try db.execute(
                sql: "UPDATE features SET archived_us = ?, body = ? WHERE id = ?",
                arguments: [now.micros, JSONWriter.string(feature.json), feature.id])
        }
    }

    static func feature(idOrKey: String, includeArchived: Bool, _ db: Database) throws -> Feature? {
        let byID = try String.fetchOne(
            db, sql: "SELECT body FROM features WHERE id = ?" + (includeArchived ? "" : " AND archived_us IS NULL"),
            arguments: [idOrKey])
        let body =
            try byID
            ?? String.fetchOne(
                db, sql: "SELECT body FROM features WHERE key = ? AND archived_us IS NULL", arguments: [idOrKey])
        return body.flatMap { feature(fromBody: $0) }
    }

    static func feature(fromBody body: String) -> Feature? {
        (try? JSONParser.parse(body)).flatMap { Feature(json: $0) }
    }
}
