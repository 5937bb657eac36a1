import GRDB
import GRDBSQLite

/// Binds and runs a prepared statement through SQLite's C API, for the two statements ingestion
/// runs once per event. GRDB's `execute(arguments:)` boxes every argument; this does not.
struct FastStatement {
    /// A value to bind: the two kinds the per-event statements use.
    enum Value {
        case integer(Int64)
        case text(String)
    }

    let statement: Statement

    /// `SQLITE_TRANSIENT`: SQLite copies bound text before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Resets the statement, binds `values` in order, and steps it to completion.
    func run(_ values: Value...) throws {
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
            }
        }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code),
                message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))))
        }
    }
}
