import GRDB
import TallyCore

extension ShardStore {
    /// Runs `work` in one write transaction. Only when its COMMIT succeeded does `effects` run with the result,
    /// still on the writer, so memory changes exactly when the database does and no other transaction commits in
    /// between; when anything fails, `undo` runs instead and the error is thrown as a `StoreError` where one
    /// fits (a full disk is `StoreError.diskFull`). A failed commit is invisible in memory.
    func commit<T: Sendable>(
        _ work: @escaping @Sendable (Database) throws -> T,
        then effects: @escaping @Sendable (T) -> Void = { _ in },
        orElse undo: @escaping @Sendable () -> Void = {}
    ) async throws -> T {
        do {
            let result = try await pool.writeWithoutTransaction { db -> T in
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
            _ = try await commit { db in
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
