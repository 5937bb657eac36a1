import Foundation
import GRDB
import TallyCore

extension ShardStore {
    /// Stores a validated batch atomically and returns after it is committed. Events already seen
    /// (same subject, source and id within the de-dup window) are accepted and not counted again.
    public func ingest(_ events: [CloudEvent]) async throws {
        guard !events.isEmpty else { return }
        let (generation, meters) = meterSnapshot()
        let batch = PreparedBatch(meterGeneration: generation, events: events.map { PreparedEvent($0, meters: meters) })
        try await committer.submit(batch) { [self] batches in
            try await pool.write { db in
                try self.apply(batches, db: db, now: Timestamp.now)
            }
        }
        flushIfDue()
    }

    private func apply(_ batches: [PreparedBatch], db: Database, now: Timestamp) throws {
        let (generation, meters) = meterSnapshot()
        let insertDedup = FastStatement(statement: try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO dedup(source, event_id, subject, ingested_us) VALUES (?, ?, ?, ?)
            """))
        let insertEvent = FastStatement(statement: try db.cachedStatement(sql: """
            INSERT INTO events(subject, source, event_id, type, time_us, ingested_us, body) VALUES (?, ?, ?, ?, ?, ?, ?)
            """))
        let insertSubject = try db.cachedStatement(sql: "INSERT OR IGNORE INTO subjects(key, id, first_seen_us) VALUES (?, ?, ?)")
        var buffer = AggregateBuffer()
        var subjects = Set<String>()
        var lastSeq: Int64?
        for batch in batches {
            let current = batch.meterGeneration == generation
            for prepared in batch.events {
                let event = prepared.event
                try insertDedup.run(.text(event.source), .text(event.id), .text(event.subject), .integer(now.micros))
                guard db.changesCount == 1 else { continue }
                try insertEvent.run(.text(event.subject), .text(event.source), .text(event.id), .text(event.type),
                                    .integer(event.time.micros), .integer(now.micros), .text(prepared.body))
                lastSeq = db.lastInsertedRowID
                buffer.add(current ? prepared.samples : PreparedEvent.samples(of: event, meters: meters), of: event)
                subjects.insert(event.subject)
            }
        }
        let newSubjects = knownSubjects.withLock { known in subjects.subtracting(known) }
        for subject in newSubjects {
            try insertSubject.execute(arguments: [subject, ULID.make(time: now), now.micros])
        }
        if let lastSeq {
            let committed = buffer
            db.afterNextTransaction(onCommit: { [self] _ in
                pending.add(committed, throughSeq: lastSeq)
                knownSubjects.withLock { $0.formUnion(newSubjects) }
            })
        }
    }

    /// Forgets de-dup entries older than the window; returns how many were removed. Walks the de-dup
    /// table in key order, `dedupPruneBatchRows` keys per transaction, so ingestion interleaves with it
    /// and no per-event index on the ingestion time is needed.
    @discardableResult
    public func pruneDedup(now: Timestamp = .now) async throws -> Int {
        let cutoff = now.micros - configuration.dedupWindowSeconds * Timestamp.microsPerSecond
        let chunk = configuration.dedupPruneBatchRows
        var after: [String] = ["", "", ""]
        var removed = 0
        while true {
            let start = after
            let (last, deleted) = try await pool.write { db -> ([String]?, Int) in
                let last = try Row.fetchOne(db, sql: """
                    SELECT source, event_id, subject FROM dedup WHERE (source, event_id, subject) > (?, ?, ?)
                    ORDER BY source, event_id, subject LIMIT 1 OFFSET ?
                    """, arguments: [start[0], start[1], start[2], chunk - 1]).map { [$0[0], $0[1], $0[2]] as [String] }
                var sql = "DELETE FROM dedup WHERE (source, event_id, subject) > (?, ?, ?) AND ingested_us < ?"
                var arguments: StatementArguments = [start[0], start[1], start[2], cutoff]
                if let last {
                    sql += " AND (source, event_id, subject) <= (?, ?, ?)"
                    arguments += [last[0], last[1], last[2]]
                }
                try db.execute(sql: sql, arguments: arguments)
                return (last, db.changesCount)
            }
            removed += deleted
            guard let last else { return removed }
            after = last
        }
    }
}

extension Timestamp {
    /// The current wall-clock time.
    public static var now: Timestamp {
        Timestamp(micros: Int64((Date().timeIntervalSince1970 * 1e6).rounded()))
    }
}
