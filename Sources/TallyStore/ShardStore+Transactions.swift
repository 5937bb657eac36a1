import GRDB
import TallyCore

extension ShardStore {
    /// Runs `work` in one write transaction of `database` (the events file unless given), committed with
    /// `synchronous=FULL` unless `durable` is false (an aggregate flush, which replay can redo). Only when its COMMIT
    /// succeeded does `effects` run with the result, still on the writer, so memory changes exactly when the
    /// database does and no other transaction commits in between; when anything fails, `undo` runs instead and the
    /// error is thrown as a `StoreError` where one fits (a full disk is `StoreError.diskFull`). A failed commit is
    /// invisible in memory.
    ///
    /// Inline enforcement's ledger is cleared after every commit unless `keepsEnforcement` (default: for aggregate
    /// flushes, `durable` false) says it changes nothing balances depend on: ingestion keeps the ledger in step itself,
    /// and de-dup pruning and notification records change no usage, entitlement, customer, feature or meter.
    func commit<T: Sendable>(
        in database: DatabasePool? = nil, durable: Bool = true, keepsEnforcement: Bool? = nil,
        _ work: @escaping @Sendable (Database) throws -> T,
        then effects: @escaping @Sendable (T) -> Void = { _ in },
        orElse undo: @escaping @Sendable () -> Void = {}
    ) async throws -> T {
        let keeps = keepsEnforcement ?? !durable
        let published: @Sendable (T) -> Void = { [self] outcome in
            effects(outcome)
            if !keeps { self.enforcement.withLock { $0.clear() } }
        }
        return try await reportingFailures {
            try await (database ?? pool).writeWithoutTransaction { db -> T in
                try ShardStore.synchronous(durable, db) {
                    try ShardStore.transaction(db, work, then: published, orElse: undo)
                }
            }
        }
    }

    /// Runs one transaction of the aggregates file whose end holds the events file's writer, so no event commits
    /// between `work` and the COMMIT: `work` can read the position of the last event (a meter's back-fill ends there)
    /// and `effects` run right after the COMMIT, before any ingest or aggregate flush commits. `prepare` runs first in
    /// the same transaction without the events writer (the aggregates writer keeps flushes out already): the heavy
    /// part that needs no fixed position, such as dropping a meter's aggregates, goes there, so ingestion waits only
    /// for `work`. The aggregates writer is taken before the events writer, the order every path that holds both
    /// takes them in once the store is open, so they never deadlock.
    func commitWithEventsHeld<P: Sendable, T: Sendable>(
        prepare: @escaping @Sendable (_ aggregates: Database) throws -> P,
        _ work: @escaping @Sendable (_ prepared: P, _ events: Database, _ aggregates: Database) throws -> T,
        then effects: @escaping @Sendable (T) -> Void = { _ in }
    ) async throws -> T {
        try await reportingFailures {
            try await aggregates.writeWithoutTransaction { [pool, self] db -> T in
                try ShardStore.synchronous(true, db) {
                    try db.beginTransaction(.immediate)
                    do {
                        let prepared = try prepare(db)
                        return try pool.writeWithoutTransaction { events -> T in
                            let outcome = try work(prepared, events, db)
                            try db.commit()
                            effects(outcome)
                            self.enforcement.withLock { $0.clear() }
                            return outcome
                        }
                    } catch {
                        if db.isInsideTransaction { try? db.rollback() }
                        throw error
                    }
                }
            }
        }
    }

    /// Changes raw events and rebuilds every live meter's aggregates from them in the background, crash-safe across
    /// the two files: marks the aggregates for a rebuild (`StoreSchema.rebuildRequiredKey`), runs `change` in a
    /// transaction of the events file (`effects` after its COMMIT), then, in one transaction of the aggregates file
    /// whose end holds the events writer, drops every live meter's aggregates, starts its back-fill up to the
    /// position (`MeterBuild`: ingestion goes on and counts every later event) and clears the mark. A crash between
    /// the steps leaves the mark, and the next open rebuilds at once. Back-fills of at most `backfillInlinePositions`
    /// positions finish before this returns; until a larger one is done, its meter answers `meterBuilding`.
    func changeEventsAndRebuild<T: Sendable>(
        _ change: @escaping @Sendable (_ events: Database) throws -> T,
        then effects: @escaping @Sendable (T) -> Void
    ) async throws -> T {
        try await commit(in: aggregates) { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO node_state(key, value) VALUES (?, '1')",
                arguments: [StoreSchema.rebuildRequiredKey])
        }
        let outcome = try await commit(change, then: effects)
        let rebuilt = try await commitWithEventsHeld(
            prepare: { db -> [MeterDefinition] in
                let meters = try ShardStore.loadMeters(db, includeDeleted: false)
                for meter in meters { try ShardStore.dropAggregates(of: meter.id, db: db) }
                return meters
            },
            { meters, events, db -> [(id: String, build: MeterBuild?)] in
                var rebuilt: [(id: String, build: MeterBuild?)] = []
                for meter in meters {
                    rebuilt.append((meter.id, try ShardStore.startBuild(of: meter, events: events, aggregates: db)))
                }
                // Every event up to the position is counted by the builds: no pending partial up to it is needed (they
                // are dropped when this commits), and a flush of one can never count it again.
                try db.execute(
                    sql: "UPDATE aggregation_state SET through_seq = max(through_seq, ?) WHERE id = 1",
                    arguments: [try ShardStore.position(events)])
                try db.execute(sql: "DELETE FROM node_state WHERE key = ?", arguments: [StoreSchema.rebuildRequiredKey])
                return rebuilt
            },
            then: { rebuilt in self.applyMeterChanges([], rebuilt: rebuilt) })
        await finishSmallBuilds(rebuilt.map(\.id))
        return outcome
    }

    /// Runs `body` with `PRAGMA synchronous` FULL (durable) or NORMAL, then restores the connection's own setting
    /// (FULL on the events file, NORMAL on the aggregates file).
    private static func synchronous<T>(_ durable: Bool, _ db: Database, _ body: () throws -> T) throws -> T {
        let own = try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? 2
        let wanted = durable ? 2 : 1
        if own != wanted { try db.execute(sql: "PRAGMA synchronous = \(wanted)") }
        defer { if own != wanted { try? db.execute(sql: "PRAGMA synchronous = \(own)") } }
        return try body()
    }

    /// `work` in one immediate transaction; `effects` after its COMMIT, `undo` when anything failed.
    private static func transaction<T>(
        _ db: Database, _ work: (Database) throws -> T, then effects: (T) -> Void, orElse undo: () -> Void
    ) throws -> T {
        do {
            var outcome: T?
            try db.inTransaction(.immediate) {
                outcome = try work(db)
                return .commit
            }
            guard let outcome else { throw StoreError.writeFailed("the transaction produced no result") }
            effects(outcome)
            return outcome
        } catch {
            undo()
            throw error
        }
    }

    /// Runs a write, records whether the disk is full, and maps SQLite errors to `StoreError`.
    private func reportingFailures<T>(_ write: () async throws -> T) async throws -> T {
        do {
            let result = try await write()
            writeHealth.withLock { $0 = nil }
            return result
        } catch let error as DatabaseError {
            let failure = StoreError(writing: error)
            if case .diskFull = failure { writeHealth.withLock { $0 = failure } }
            throw failure
        }
    }

    /// Why writes failed last, while they still fail (nil once a write succeeded again).
    public var writeFailure: StoreError? { writeHealth.withLock { $0 } }

    /// Tries a small write when writes have been failing, so readiness returns by itself once space returns.
    /// Returns the failure that remains, or nil when the store accepts writes.
    public func recheckWrites() async -> StoreError? {
        guard writeFailure != nil else { return nil }
        do {
            _ = try await commit(in: aggregates) { db in
                try db.execute(
                    sql: """
                        INSERT INTO node_state(key, value) VALUES ('store.writeProbe', ?)
                        ON CONFLICT(key) DO UPDATE SET value = excluded.value
                        """, arguments: [String(Timestamp.now.micros)])
            }
            return nil
        } catch let error as StoreError {
            return error
        } catch {
            return .writeFailed("\(error)")
        }
    }
}

extension StoreError {
    /// The store error for a failed SQLite write: `diskFull` for `SQLITE_FULL`, `writeFailed` otherwise.
    init(writing error: DatabaseError) {
        if error.resultCode == .SQLITE_FULL {
            self = .diskFull
        } else {
            self = .writeFailed("\(error.resultCode): \(error.message ?? "no message")")
        }
    }
}
