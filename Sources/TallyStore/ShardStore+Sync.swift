import GRDB
import TallyCore

extension ShardStore {
    /// Reads a value of the node's own state (such as its place in a cluster) as the aggregates file holds it
    /// (written with a meter change, `syncMeters`) and as the events file holds it (`saveEventsState`).
    public func nodeState(_ key: String) async throws -> (aggregates: String?, events: String?) {
        let stored = try await aggregates.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM node_state WHERE key = ?", arguments: [key])
        }
        let events = try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM node_state WHERE key = ?", arguments: [key])
        }
        return (stored, events)
    }

    /// Records `state` in the events file's node state, in one transaction with the events writer held, without
    /// waiting for the aggregates writer (a long aggregate flush): for state that changes no meter, such as a new slot
    /// table. `check` runs first inside the transaction (a throw changes nothing); `published` runs once it
    /// committed, before any other event commits, so the caller can publish state tied to it (a worker's fencing).
    public func saveEventsState(
        _ state: [String: String], check: @escaping @Sendable () throws -> Void = {},
        then published: @escaping @Sendable () -> Void = {}
    ) async throws {
        try await commit(
            { db in
                try check()
                for (key, value) in state {
                    try db.execute(
                        sql: """
                            INSERT INTO node_state(key, value) VALUES (?, ?)
                            ON CONFLICT(key) DO UPDATE SET value = excluded.value
                            """, arguments: [key, value])
                }
            }, then: { _ in published() })
    }

    /// Makes the stored meters equal `definitions` (live and deleted, as a coordinator holds them) and records
    /// `state` in the node's state, in one transaction; `features` are stored as they are (archived ones first, so a
    /// key freed by an archive can be taken) in the events file while that transaction holds its writer (each upsert
    /// on its own: storing them again changes nothing). New meters and meters whose counting rules changed are
    /// back-filled from raw events (`MeterBuild`; small back-fills finish before this returns, larger ones in the
    /// background); deleted meters lose their aggregates. `check` runs first inside the transaction
    /// (a throw changes nothing); `published` runs once the transaction committed, before any other write, so
    /// the caller can publish state tied to it.
    public func syncMeters(
        _ definitions: [MeterDefinition], features: [Feature] = [], state: [String: String],
        check: @escaping @Sendable () throws -> Void = {},
        then published: @escaping @Sendable () -> Void = {}
    ) async throws {
        _ = try await commitWithEventsHeld(
            prepare: { db -> (changes: [(id: String, meter: MeterDefinition?)], build: [MeterDefinition]) in
                try check()
                let stored = Dictionary(try ShardStore.loadMeters(db, includeDeleted: true).map { ($0.id, $0) }) {
                    first, _ in first
                }
                let deletedFirst =
                    definitions.filter { $0.deletedAt != nil } + definitions.filter { $0.deletedAt == nil }
                var changes: [(id: String, meter: MeterDefinition?)] = []
                var build: [MeterDefinition] = []
                for definition in deletedFirst where stored[definition.id] != definition {
                    try self.save(definition, db: db)
                    if definition.deletedAt != nil {
                        try ShardStore.dropAggregates(of: definition.id, db: db)
                        try ShardStore.endBuild(of: definition.id, db: db)
                        changes.append((definition.id, nil))
                        continue
                    }
                    if stored[definition.id].map({ !ShardStore.countsAlike($0, definition) }) ?? true {
                        try ShardStore.dropAggregates(of: definition.id, db: db)
                        build.append(definition)
                    }
                    changes.append((definition.id, definition))
                }
                for (key, value) in state {
                    try db.execute(
                        sql: """
                            INSERT INTO node_state(key, value) VALUES (?, ?)
                            ON CONFLICT(key) DO UPDATE SET value = excluded.value
                            """, arguments: [key, value])
                }
                return (changes, build)
            },
            { prepared, events, db in
                try ShardStore.store(features, db: events)
                var rebuilt: [(id: String, build: MeterBuild?)] = prepared.changes.filter { $0.meter == nil }.map {
                    ($0.id, nil)
                }
                for definition in prepared.build {
                    rebuilt.append(
                        (definition.id, try ShardStore.startBuild(of: definition, events: events, aggregates: db)))
                }
                return (prepared.changes, rebuilt)
            },
            then: { changes, rebuilt in
                self.applyMeterChanges(changes, rebuilt: rebuilt)
                published()
            })
        await finishSmallBuilds(runningBuilds.keys.sorted())
    }

    /// Whether two versions of a meter count events the same way (so their aggregates can be kept).
    static func countsAlike(_ a: MeterDefinition, _ b: MeterDefinition) -> Bool {
        a.deletedAt == nil && a.aggregation == b.aggregation && a.eventType == b.eventType && a.eventFrom == b.eventFrom
            && a.valueProperty == b.valueProperty && a.groupBy == b.groupBy
    }
}
