import GRDB
import GRDBSQLite
import TallyCore

/// Binds and runs a prepared statement through SQLite's C API, for the statements ingestion and aggregate
/// flushes run once per event or key. GRDB's `execute(arguments:)` boxes every argument; this does not.
struct FastStatement {
    /// A value to bind.
    enum Value {
        case integer(Int64)
        case text(String)
        case blob([UInt8])
        /// An amount's 16 sortable bytes (`Amount.sortableBytes`).
        case amount(Amount)
        case null
    }

    let statement: Statement

    /// `SQLITE_TRANSIENT`: SQLite copies bound text before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Resets the statement, binds `values` in order, and steps it to completion.
    func run(_ values: Value...) throws { try run(values) }

    /// Resets the statement, binds `values` in order, and steps it to completion.
    func run(_ values: [Value]) throws {
        let code = try step(values)
        guard code == SQLITE_DONE else { throw error(code) }
    }

    /// Whether the query, with `values` bound in order, returns a row.
    func exists(_ values: [Value]) throws -> Bool {
        let code = try step(values)
        guard code == SQLITE_ROW || code == SQLITE_DONE else { throw error(code) }
        return code == SQLITE_ROW
    }

    /// Resets the statement, binds `values` (text by its byte count, so a NUL inside is kept) and steps once.
    private func step(_ values: [Value]) throws -> Int32 {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .integer(let number):
                sqlite3_bind_int64(handle, index, number)
            case .text(var text):
                text.withUTF8 { bytes in
                    _ = sqlite3_bind_text(handle, index, bytes.baseAddress, Int32(bytes.count), FastStatement.transient)
                }
            case .blob(let bytes) where bytes.isEmpty:
                sqlite3_bind_zeroblob(handle, index, 0)
            case .blob(let bytes):
                bytes.withUnsafeBytes { raw in
                    _ = sqlite3_bind_blob(handle, index, raw.baseAddress, Int32(raw.count), FastStatement.transient)
                }
            case .amount(let amount):
                withUnsafeBytes(of: amount.sortableBigEndian) { raw in
                    _ = sqlite3_bind_blob(handle, index, raw.baseAddress, 16, FastStatement.transient)
                }
            case .null:
                sqlite3_bind_null(handle, index)
            }
        }
        return sqlite3_step(handle)
    }

    private func error(_ code: Int32) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code),
            message: String(cString: sqlite3_errmsg(sqlite3_db_handle(statement.sqliteStatement))))
    }
}
