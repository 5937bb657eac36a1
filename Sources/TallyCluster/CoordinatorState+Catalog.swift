import GRDB
import TallyCore
import TallyHTTP
import TallyStore

/// The catalog the coordinator pushes to every worker: meters and features, each change stored under the next
/// catalog version in one transaction and published once it commits.
extension CoordinatorState {
    /// Stores a new or changed meter under the next catalog version and publishes it.
    /// Throws `StoreError.slugTaken` when another live meter has the slug.
    public func put(_ meter: MeterDefinition) async throws -> ClusterSnapshot {
        try await putInCatalog { snapshot, db in
            if meter.deletedAt == nil, let other = snapshot.liveMeter(meter.slug), other.id != meter.id {
                throw StoreError.slugTaken(meter.slug)
            }
            try CoordinatorState.save(meter, version: snapshot.catalogVersion, db: db)
            CoordinatorState.upsert(meter, into: &snapshot.meters, id: \.id)
        }
    }

    /// Stores a new or archived feature under the next catalog version and publishes it. Throws
    /// `EntitlementStoreError.featureKeyTaken` when another live feature has the key.
    public func put(_ feature: Feature) async throws -> ClusterSnapshot {
        try await putInCatalog { snapshot, db in
            if feature.archivedAt == nil, let other = snapshot.liveFeature(feature.key), other.id != feature.id {
                throw EntitlementStoreError.featureKeyTaken(feature.key)
            }
            try db.execute(
                sql: """
                    INSERT INTO features(id, key, body, archived) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET body = excluded.body, archived = excluded.archived
                    """,
                arguments: [
                    feature.id, feature.key, JSONWriter.string(feature.json), feature.archivedAt == nil ? 0 : 1,
                ])
            CoordinatorState.upsert(feature, into: &snapshot.features, id: \.id)
        }
    }

    static func save(_ meter: MeterDefinition, version: Int64, db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO meters(id, slug, definition, version, deleted) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET slug = excluded.slug, definition = excluded.definition,
                    version = excluded.version, deleted = excluded.deleted
                """,
            arguments: [meter.id, meter.slug, JSONWriter.string(meter.json), version, meter.deletedAt == nil ? 0 : 1])
    }

    static func saveCatalogVersion(_ version: Int64, db: Database) throws {
        try db.execute(sql: "UPDATE cluster SET catalog_version = ?", arguments: [version])
    }

    /// Runs `change` on the snapshot at the next catalog version inside one transaction (a throw stores nothing),
    /// records the version, and publishes the snapshot when the transaction commits.
    private func putInCatalog(
        _ change: @escaping @Sendable (inout ClusterSnapshot, Database) throws -> Void
    ) async throws -> ClusterSnapshot {
        try await queue.write { db in
            var snapshot = self.snapshot
            snapshot.catalogVersion += 1
            try change(&snapshot, db)
            try CoordinatorState.saveCatalogVersion(snapshot.catalogVersion, db: db)
            self.publish(snapshot, onCommitOf: db)
            return snapshot
        }
    }

    /// Replaces the item of `items` with the same id, or appends it.
    private static func upsert<Item>(_ item: Item, into items: inout [Item], id: KeyPath<Item, String>) {
        if let index = items.firstIndex(where: { $0[keyPath: id] == item[keyPath: id] }) {
            items[index] = item
        } else {
            items.append(item)
        }
    }
}
