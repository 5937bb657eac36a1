import GRDB
import TallyCore

extension ShardStore {
    /// Creates a feature. Its meter must exist and aggregate with SUM, COUNT, UNIQUE_COUNT or LATEST.
    public func createFeature(_ spec: FeatureSpec, now: Timestamp = .now) async throws -> Feature {
        try spec.check(meter: spec.meterSlug.flatMap { meter(idOrSlug: $0) })
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

    /// Stores features as a coordinator holds them, archived ones first (a key freed by an archive can be taken).
    static func store(_ features: [Feature], db: Database) throws {
        for feature in features.filter({ $0.archivedAt != nil }) + features.filter({ $0.archivedAt == nil }) {
            try db.execute(
                sql: """
                    INSERT INTO features(id, key, archived_us, body) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET archived_us = excluded.archived_us, body = excluded.body
                    """,
                arguments: [feature.id, feature.key, feature.archivedAt?.micros, JSONWriter.string(feature.json)])
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
