import Foundation
import GRDB
import TallyCore

extension ShardStore {
    /// Stores a validated batch atomically and returns after it is committed. Events already seen
    /// (same subject, source and id within the de-dup window) are accepted and not counted again.
    /// `admit`, when given, is checked inside the transaction that would commit the batch (a worker's fencing):
    /// when it throws, nothing of the batch is stored and its error is thrown.
    /// `enforcement`, when given, is judged by the writer too (`ingestEnforced`).
    public func ingest(
        _ events: [CloudEvent], admit: (@Sendable () throws -> Void)? = nil, enforcement plan: EnforcementPlan? = nil
    ) async throws {
        guard !events.isEmpty else { return }
        // Back-pressure: while the aggregates writer is this far behind, batches are refused before anything is
        // stored, so pending partials (memory, and the work each query does to add them) stay bounded.
        guard pending.keyCount < configuration.maxPendingAggregateKeysBeforeRefusal else {
            flushIfDue()
            throw StoreError.aggregatesBehind
        }
        let (generation, meters) = meterSnapshot()
        let batch = PreparedBatch(
            meterGeneration: generation, events: events.map { PreparedEvent($0, meters: meters) },
            admission: Admission(check: admit), enforcement: plan)
        do {
            try await committer.submit(batch) { [self] batches in
                // A batch without a plan (a worker's) records nothing: the ledger is cleared after it.
                _ = try await commit(
                    keepsEnforcement: batches.allSatisfy { $0.enforcement != nil },
                    { db in try self.apply(batches, db: db, now: Timestamp.now) },
                    then: { effects in
                        self.publish(effects)
                        self.enforcement.withLock { $0.commitPending() }
                    }, orElse: { self.enforcement.withLock { $0.dropPending() } })
            }
        } catch GroupCommitterError.queueFull {
            throw StoreError.overloaded
        }
        if let refusal = batch.admission.refusal { throw refusal }
        flushIfDue()
    }

    /// What a committed ingest transaction changes in memory.
    struct IngestEffects: Sendable {
        var buffers: [AggregateBuffer]
        var newSubjects: Set<Identifier>
        var lastSeq: Int64?
        var stored: Int64
        var hasCollisions: Bool
    }

    /// Stores the admitted batches' new events in the events transaction `db`; what memory changes on its commit.
    func apply(_ batches: [PreparedBatch], db: Database, now: Timestamp) throws -> IngestEffects {
        let (generation, meters) = meterSnapshot()
        var deduplicator = try Deduplicator(
            db, hash: configuration.dedupHash, hasCollisions: hasDedupCollisions.withLock { $0 })
        let insertEvent = FastStatement(
            statement: try db.cachedStatement(
                sql: """
                    INSERT INTO events(seq, subject, source, event_id, type, time_us, ingested_us, body)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """))
        let insertSubject = FastStatement(
            statement: try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO subjects(key, id, first_seen_us) VALUES (?, ?, ?)"))
        var buffers: [AggregateBuffer] = []
        var subjects = Set<Identifier>()
        var lastSeq: Int64?
        var position = lastPosition.withLock { $0 }
        var storedCount: Int64 = 0
        for batch in batches where batch.admission.admits() && judge(batch) {
            var stored: [PreparedEvent] = []
            stored.reserveCapacity(batch.events.count)
            var storedIndices = Set<Int>()
            for (index, prepared) in batch.events.enumerated() {
                let event = prepared.event
                let ingested = prepared.ingested?.micros ?? now.micros
                guard
                    try deduplicator.admit(
                        source: event.source, id: event.id, subject: event.subject, seq: position + 1,
                        ingestedMicros: ingested, installed: batch.tellsReceiptsApart && prepared.ingested != nil,
                        db: db)
                else { continue }
                position += 1
                try insertEvent.run(
                    .integer(position), .text(event.subject), .text(event.source), .text(event.id),
                    .text(event.type), .integer(event.time.micros), .integer(ingested), .text(prepared.body))
                lastSeq = position
                storedCount += 1
                stored.append(prepared)
                storedIndices.insert(index)
                subjects.insert(Identifier(event.subject))
            }
            if let uses = batch.enforcement?.uses, !uses.isEmpty {
                enforcement.withLock { $0.record(uses.filter { storedIndices.contains($0.eventIndex) }) }
            }
            if batch.meterGeneration == generation, stored.count == batch.events.count {
                buffers.append(batch.buffer)
            } else {
                var buffer = AggregateBuffer()
                let current = batch.meterGeneration == generation
                for prepared in stored {
                    buffer.add(
                        current ? prepared.samples : PreparedEvent.samples(of: prepared.event, meters: meters),
                        of: prepared.event)
                }
                buffers.append(buffer)
            }
        }
        if let lastSeq {
            try db.execute(sql: "UPDATE positions SET last = ? WHERE id = 1", arguments: [lastSeq])
        }
        let newSubjects = knownSubjects.withLock { known in subjects.subtracting(known) }
        for subject in newSubjects {
            try insertSubject.run(.text(subject.text), .text(ULID.make(time: now)), .integer(now.micros))
        }
        return IngestEffects(
            buffers: buffers, newSubjects: newSubjects, lastSeq: lastSeq, stored: storedCount,
            hasCollisions: deduplicator.hasCollisions)
    }

    /// Whether the batch's enforcement plan (if any) admits it; a refusal is kept as the batch's.
    private func judge(_ batch: PreparedBatch) -> Bool {
        guard let plan = batch.enforcement else { return true }
        do {
            try enforcement.withLock { try $0.judge(plan) }
            return true
        } catch {
            batch.admission.refuse(error)
            return false
        }
    }

    /// Publishes a committed ingest transaction: partials, known subjects and the event count.
    func publish(_ effects: IngestEffects) {
        guard let lastSeq = effects.lastSeq else { return }
        if effects.hasCollisions { hasDedupCollisions.withLock { $0 = true } }
        pending.add(effects.buffers, throughSeq: lastSeq)
        knownSubjects.withLock { known in
            if known.count + effects.newSubjects.count > configuration.maxCachedSubjects { known.removeAll() }
            known.formUnion(effects.newSubjects)
        }
        lastPosition.withLock { $0 = max($0, lastSeq) }
        storedEvents.withLock { $0 += effects.stored }
    }

    /// Forgets de-dup entries older than the window; returns how many were removed. Walks the de-dup keys in key
    /// order, `dedupPruneBatchRows` keys per transaction, so ingestion interleaves with it and no index on the
    /// ingestion time is needed; collision rows (rare) go in the last transaction.
    @discardableResult
    public func pruneDedup(now: Timestamp = .now) async throws -> Int {
        let cutoff = now.micros - configuration.dedupWindowSeconds * Timestamp.microsPerSecond
        let chunk = configuration.dedupPruneBatchRows
        var after = Data()
        var removed = 0
        while true {
            let start = after
            // Forgetting de-dup keys changes no usage: enforcement's ledger stays.
            let (last, deleted) = try await commit(keepsEnforcement: true) { db -> (Data?, Int) in
                let last = try Data.fetchOne(
                    db, sql: "SELECT key FROM dedup_keys WHERE key > ? ORDER BY key LIMIT 1 OFFSET ?",
                    arguments: [start, chunk - 1])
                var sql = "DELETE FROM dedup_keys WHERE key > ? AND ingested_us < ?"
                var arguments: StatementArguments = [start, cutoff]
                if let last {
                    sql += " AND key <= ?"
                    arguments += [last]
                }
                try db.execute(sql: sql, arguments: arguments)
                var deleted = db.changesCount
                if last == nil {
                    try db.execute(sql: "DELETE FROM dedup_collisions WHERE ingested_us < ?", arguments: [cutoff])
                    deleted += db.changesCount
                }
                return (last, deleted)
            }
            removed += deleted
            guard let last else { return removed }
            after = last
        }
    }
}
