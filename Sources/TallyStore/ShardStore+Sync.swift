import GRDB
import TallyCore

extension ShardStore {
    /// Reads a value of the node's own state (such as its place in a cluster).
    public func nodeState(_ key: String) async throws -> String? {
        try await pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM node_state WHERE key = ?", arguments: [key]) }
    }

    /// Makes the stored meters equal `definitions` (live and deleted, as a coordinator holds them) and records
    /// `state` in the node's state, in one transaction. New meters and meters whose counting rules changed are
    /// rebuilt from raw events; deleted meters lose their aggregates.
    public func syncMeters(_ definitions: [MeterDefinition], state: [String: String]) async throws {
        try await pool.write { db in
            let stored = Dictionary(try ShardStore.loadMeters(db, includeDeleted: true).map { ($0.id, $0) }) { first, _ in first }
            let deletedFirst = definitions.filter { $0.deletedAt != nil } + definitions.filter { $0.deletedAt == nil }
            for definition in deletedFirst where stored[definition.id] != definition {
                try self.save(definition, db: db)
                if definition.deletedAt != nil {
                    try db.execute(sql: "DELETE FROM minute_agg WHERE meter_id = ?", arguments: [definition.id])
                    try db.execute(sql: "DELETE FROM minute_unique WHERE meter_id = ?", arguments: [definition.id])
                    self.pending.removeMeter(definition.id)
                    self.setLiveMeter(id: definition.id, nil)
                    continue
                }
                if stored[definition.id].map({ !ShardStore.countsAlike($0, definition) }) ?? true {
                    try self.rebuildAggregates(of: definition, db: db)
                }
                self.setLiveMeter(id: definition.id, definition)
            }
            for (key, value) in state {
                try db.execute(sql: "INSERT INTO node_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                               arguments: [key, value])
            }
        }
    }

    /// Whether two versions of a meter count events the same way (so their aggregates can be kept).
    static func countsAlike(_ a: MeterDefinition, _ b: MeterDefinition) -> Bool {
        a.deletedAt == nil && a.aggregation == b.aggregation && a.eventType == b.eventType && a.eventFrom == b.eventFrom
            && a.valueProperty == b.valueProperty && a.groupBy == b.groupBy
    }
}
