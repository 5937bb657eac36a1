import Foundation
import GRDB

/// Text that crosses SQLite with every byte. GRDB binds a `String` up to its first NUL and reads one the same way,
/// but customers, event types, group values and distinct values may hold NULs (JSON allows `\u0000`, and the fuzzer
/// sends it): bound that way, customer `"a\u0000b"` would be asked for as `"a"`. SQL that binds such text writes
/// `StoredText.parameter` with `StoredText.argument(_:)`; SQL that reads it selects `StoredText.column(_:)` and decodes
/// the bytes with `StoredText.string(_:)`. Hot paths bind through `FastStatement`, which binds by byte count.
enum StoredText {
    /// A bound text parameter with all its bytes (a blob cast back to text, so it compares as text).
    static let parameter = "CAST(? AS TEXT)"

    /// `count` of `parameter`, comma-separated, for an `IN (…)` list.
    static func parameters(_ count: Int) -> String {
        Array(repeating: parameter, count: count).joined(separator: ",")
    }

    /// The argument for a `parameter`.
    static func argument(_ text: String) -> Data { Data(text.utf8) }

    /// A selected text column read as its bytes.
    static func column(_ name: String) -> String { "CAST(\(name) AS BLOB)" }

    /// The text of a column selected with `column(_:)` (NULL reads as empty).
    static func string(_ value: DatabaseValue) -> String {
        guard let bytes = Data.fromDatabaseValue(value) else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }
}
