import Foundation
import GRDB
import TallyCore

extension ShardStore {
    /// Stores a validated batch atomically and returns after it is committed. Events already seen
    /// (same subject, source and id within the de-dup window) are accepted and not counted again.
    public func ingest(_ events: [CloudEvent]) async throws {
        guard !events.isEmpty else { return }
        let (generation, meters) = liveMeters.withLock { ($0.generation, Array($0.byID.values)) }
        let batch = PreparedBatch(meterGeneration: generation, events: events.map { PreparedEvent($0, meters: meters) })
        try await committer.submit(batch) { [self] batches in
            try await pool.write { db in
                try self.apply(batches, db: db, now: Timestamp.now)
            }
        }
        flushIfDue()
    }

    private func apply(_ batches: [PreparedBatch], db: Database, now: Timestamp) throws {
        let (generation, meters) = liveMeters.withLock { ($0.generation, Array($0.byID.values)) }
        let insertDedup = try db.cachedStatement(sql: "INSERT OR IGNORE INTO dedup(subject, source, event_id, ingested_us) VALUES (?, ?, ?, ?)")
        let insertEvent = try db.cachedStatement(sql: """
            INSERT INTO events(subject, source, event_id, type, time_us, ingested_us, body) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let insertSubject = try db.cachedStatement(sql: "INSERT OR IGNORE INTO subjects(key, id, first_seen_us) VALUES (?, ?, ?)")
        var buffer = AggregateBuffer()
        var subjects = Set<String>()
        var lastSeq: Int64?
        for batch in batches {
            let current = batch.meterGeneration == generation
            for prepared in batch.events {
                let event = prepared.event
                try insertDedup.execute(arguments: [event.subject, event.source, event.id, now.micros])
                guard db.changesCount == 1 else { continue }
                try insertEvent.execute(arguments: [event.subject, event.source, event.id, event.type, event.time.micros, now.micros, prepared.body])
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

    /// Forgets de-dup entries older than the window; returns how many were removed.
    @discardableResult
    public func pruneDedup(now: Timestamp = .now) async throws -> Int {
        let cutoff = now.micros - configuration.dedupWindowSeconds * Timestamp.microsPerSecond
        var removed = 0
        while true {
            let deleted = try await pool.write { [configuration] db in
                try db.execute(sql: """
                    DELETE FROM dedup WHERE (subject, source, event_id) IN
                        (SELECT subject, source, event_id FROM dedup WHERE ingested_us < ? LIMIT ?)
                    """, arguments: [cutoff, configuration.dedupPruneBatchRows])
                return db.changesCount
            }
            removed += deleted
            if deleted < configuration.dedupPruneBatchRows { return removed }
        }
    }
}

extension Timestamp {
    /// The current wall-clock time.
    public static var now: Timestamp {
        Timestamp(micros: Int64((Date().timeIntervalSince1970 * 1e6).rounded()))
    }
}
