import Foundation
import GRDB
import TallyCore

/// Decides inside a write transaction of the events file whether an event is new, and records it if so: its
/// `DedupKey` goes into `dedup_keys` with the position the event will be stored at. A key already there is checked
/// against the event stored at its position; only a different event (a hash collision) is new, and its full
/// (source, id, customer) goes into `dedup_collisions`, which every later event is checked against while it holds
/// rows. So a collision costs a lookup, never an event.
struct Deduplicator {
    let hash: DedupHash
    /// Whether `dedup_collisions` holds rows (then a new key must still be checked against them).
    private(set) var hasCollisions: Bool
    private let insertKey: FastStatement
    private let insertCollision: FastStatement
    private let findCollision: FastStatement
    private let matchStored: FastStatement
    private let matchStoredAt: FastStatement
    private let moveKey: FastStatement

    init(_ db: Database, hash: DedupHash, hasCollisions: Bool) throws {
        self.hash = hash
        self.hasCollisions = hasCollisions
        insertKey = FastStatement(
            statement: try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO dedup_keys(key, seq, ingested_us) VALUES (?, ?, ?)"))
        insertCollision = FastStatement(
            statement: try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO dedup_collisions(source, event_id, subject, ingested_us) VALUES (?, ?, ?, ?)
                    """))
        // Text is compared through FastStatement, which binds it by byte count: GRDB binds a String up to its
        // first NUL, and identifiers may hold one.
        findCollision = FastStatement(
            statement: try db.cachedStatement(
                sql: "SELECT 1 FROM dedup_collisions WHERE source = ? AND event_id = ? AND subject = ?"))
        matchStored = FastStatement(
            statement: try db.cachedStatement(
                sql: """
                    SELECT 1 FROM events WHERE seq = (SELECT seq FROM dedup_keys WHERE key = ?)
                        AND source = ? AND event_id = ? AND subject = ?
                    """))
        // Any stored copy of the event received at that instant (the customer's events, through its index).
        matchStoredAt = FastStatement(
            statement: try db.cachedStatement(
                sql: """
                    SELECT 1 FROM events INDEXED BY events_subject_time
                    WHERE subject = ? AND source = ? AND event_id = ? AND ingested_us = ?
                    """))
        moveKey = FastStatement(
            statement: try db.cachedStatement(sql: "UPDATE dedup_keys SET seq = ?, ingested_us = ? WHERE key = ?"))
    }

    /// Whether the event (source, id, customer) is new; when it is, it is recorded as stored at `seq`, received at
    /// `ingestedMicros`. An event `installed` from another shard (a slot move) is new unless a stored copy of it was
    /// received at the same instant (then it is that stored event, copied again): the shard it comes from stored both
    /// copies of an event sent again after its de-dup window, and so does this one, the key then naming the later
    /// copy. That lookup reads the customer's events, and runs only when the key is taken.
    mutating func admit(
        source: String, id: String, subject: String, seq: Int64, ingestedMicros: Int64, installed: Bool = false,
        db: Database
    ) throws -> Bool {
        let triple: [FastStatement.Value] = [.text(source), .text(id), .text(subject)]
        if hasCollisions, try findCollision.exists(triple) { return false }
        let key = DedupKey(source: source, id: id, subject: subject, hash: hash)
        try insertKey.run(.blob(key.bytes), .integer(seq), .integer(ingestedMicros))
        if db.changesCount == 1 { return true }
        if try matchStored.exists([.blob(key.bytes)] + triple) {
            guard installed,
                try !matchStoredAt.exists([.text(subject), .text(source), .text(id), .integer(ingestedMicros)])
            else { return false }
            try moveKey.run(.integer(seq), .integer(ingestedMicros), .blob(key.bytes))
            return true
        }
        try insertCollision.run(.text(source), .text(id), .text(subject), .integer(ingestedMicros))
        guard db.changesCount == 1 else { return false }
        hasCollisions = true
        return true
    }

    /// Forgets the events of `subject` (their slot moves away): their keys and any collision rows.
    static func forget(subject: String, hash: DedupHash, db: Database) throws {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT seq, \(StoredText.column("source")), \(StoredText.column("event_id"))
                FROM events INDEXED BY events_subject_time WHERE subject = \(StoredText.parameter)
                """, arguments: [StoredText.argument(subject)])
        for row in rows {
            let key = DedupKey(
                source: StoredText.string(row[1]), id: StoredText.string(row[2]), subject: subject, hash: hash)
            try db.execute(
                sql: "DELETE FROM dedup_keys WHERE key = ? AND seq = ?", arguments: [Data(key.bytes), row[0] as Int64])
        }
        try db.execute(
            sql: "DELETE FROM dedup_collisions WHERE subject = \(StoredText.parameter)",
            arguments: [StoredText.argument(subject)])
    }
}
