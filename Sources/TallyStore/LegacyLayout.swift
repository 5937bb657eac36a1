import GRDB
import TallyCore

/// Stores written before the events/aggregates split keep meters, node state and minutes in the events file.
/// Opening one moves the meter definitions and node state to the aggregates file and marks its aggregates for a
/// rebuild from raw events (`StoreSchema.rebuildRequiredKey`), and only then drops the old tables, so a crash at any
/// point leaves a store that moves again on the next open.
enum LegacyLayout {
    static let movedTables = ["meters", "aggregation_state", "minute_agg", "minute_unique"]

    static func move(events: DatabasePool, aggregates: DatabasePool) throws {
        try events.writeWithoutTransaction { eventsDB in
            guard try eventsDB.tableExists("meters") else { return }
            let meters = try Row.fetchAll(eventsDB, sql: "SELECT id, slug, definition, deleted_at FROM meters")
            let state =
                try eventsDB.tableExists("node_state")
                ? try Row.fetchAll(eventsDB, sql: "SELECT key, value FROM node_state") : []
            try aggregates.write { db in
                for row in meters {
                    try db.execute(
                        sql: """
                            INSERT INTO meters(id, slug, definition, deleted_at) VALUES (?, ?, ?, ?)
                            ON CONFLICT(id) DO UPDATE SET slug = excluded.slug, definition = excluded.definition,
                                deleted_at = excluded.deleted_at
                            """, arguments: [row[0], row[1], row[2], row[3]])
                }
                for row in state {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO node_state(key, value) VALUES (?, ?)", arguments: [row[0], row[1]])
                }
                try db.execute(
                    sql: "INSERT OR REPLACE INTO node_state(key, value) VALUES (?, '1')",
                    arguments: [StoreSchema.rebuildRequiredKey])
            }
            try eventsDB.inTransaction {
                for table in movedTables { try eventsDB.execute(sql: "DROP TABLE IF EXISTS \(table)") }
                // The events file keeps a node_state table of its own (`saveEventsState`); the moved rows go.
                try eventsDB.execute(sql: "DELETE FROM node_state")
                return .commit
            }
        }
    }
}
