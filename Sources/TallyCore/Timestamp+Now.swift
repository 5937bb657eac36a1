import Foundation

extension Timestamp {
    /// The current wall-clock time.
    public static var now: Timestamp {
        Timestamp(micros: Int64((Date().timeIntervalSince1970 * 1e6).rounded()))
    }
}
