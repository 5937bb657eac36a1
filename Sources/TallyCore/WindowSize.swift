import Foundation

/// Tumbling window sizes for meter queries.
public enum WindowSize: String, Sendable, Hashable, CaseIterable {
    case minute = "MINUTE"
    case hour = "HOUR"
    case day = "DAY"
    case month = "MONTH"

    /// A lower bound of the number of windows of this size that [from, to) overlaps (a month counted as 31 days,
    /// a day as 25 hours, so time-zone changes never make it an overestimate).
    public func minimumWindows(from: Timestamp, to: Timestamp) -> Int64 {
        let longest: Int64 =
            switch self {
            case .minute: Timestamp.microsPerMinute
            case .hour: 60 * Timestamp.microsPerMinute
            case .day: 25 * 60 * Timestamp.microsPerMinute
            case .month: 31 * 24 * 60 * Timestamp.microsPerMinute
            }
        return (to.micros - from.micros) / longest
    }
}

/// Window boundaries in one IANA time zone. DAY and MONTH windows follow local midnight, so a
/// day is 23 or 25 hours long across a DST change; HOUR windows follow local hours.
public struct WindowCalendar: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar

    /// nil when `identifier` is not a known IANA time zone.
    public init?(timeZoneIdentifier identifier: String) {
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        timeZone = zone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        self.calendar = calendar
    }

    /// The window of `size` holding `instant`, as [start, end).
    public func window(_ size: WindowSize, containing instant: Timestamp) -> (start: Timestamp, end: Timestamp) {
        if size == .minute {
            let start = instant.minuteFloor
            return (start, Timestamp(micros: start.micros + Timestamp.microsPerMinute))
        }
        let component: Calendar.Component =
            switch size {
            case .minute: .minute
            case .hour: .hour
            case .day: .day
            case .month: .month
            }
        let date = Date(timeIntervalSince1970: Double(instant.micros) / 1e6)
        guard let interval = calendar.dateInterval(of: component, for: date) else {
            let start = instant.minuteFloor
            return (start, Timestamp(micros: start.micros + Timestamp.microsPerMinute))
        }
        return (WindowCalendar.timestamp(interval.start), WindowCalendar.timestamp(interval.end))
    }

    private static func timestamp(_ date: Date) -> Timestamp {
        Timestamp(micros: Int64((date.timeIntervalSince1970 * 1e6).rounded()))
    }
}
