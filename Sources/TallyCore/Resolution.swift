/// A resolution the store pre-aggregates at. Buckets are aligned to UTC: a minute, an hour or a day since the epoch.
public enum Resolution: Int64, Sendable, Hashable, CaseIterable, Comparable {
    case minute = 60_000_000
    case hour = 3_600_000_000
    case day = 86_400_000_000

    /// The bucket length in microseconds.
    public var micros: Int64 { rawValue }

    public static func < (lhs: Resolution, rhs: Resolution) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The start of the bucket holding `instant` (floor division, so instants before 1970 work too).
    public func floor(_ instant: Timestamp) -> Timestamp {
        let remainder = ((instant.micros % micros) + micros) % micros
        return Timestamp(micros: instant.micros - remainder)
    }

    /// The smallest bucket boundary at or after `instant`.
    public func ceiling(_ instant: Timestamp) -> Timestamp {
        let start = floor(instant)
        return start == instant ? start : Timestamp(micros: start.micros + micros)
    }
}
