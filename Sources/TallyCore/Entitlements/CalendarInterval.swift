/// A calendar length from an ISO 8601 duration (`P1M`, `P2W`, `PT6H`, `P1Y2M3DT4H`): months, days and a fixed part.
///
/// Usage periods and grant recurrences step by it from an anchor. Months are added first, clamped to the last day of
/// the month (`Jan 31 + P1M = Feb 28`), then days, then the fixed part, all in UTC.
public struct CalendarInterval: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Whole months (a year is 12).
    public var months: Int
    /// Whole days (a week is 7).
    public var days: Int
    /// Hours, minutes and seconds, in microseconds.
    public var micros: Int64

    /// The shortest interval a usage period or a recurrence may have: one hour.
    public static let minimumMicros: Int64 = 3_600 * Timestamp.microsPerSecond
    /// The longest an interval may be: 100 years, so that stepping through the accepted years stays within bounds.
    public static let maximumMonths = 1_200

    public static let day = CalendarInterval(months: 0, days: 1, micros: 0)
    public static let week = CalendarInterval(months: 0, days: 7, micros: 0)
    public static let month = CalendarInterval(months: 1, days: 0, micros: 0)
    public static let year = CalendarInterval(months: 12, days: 0, micros: 0)

    public init(months: Int, days: Int, micros: Int64) {
        self.months = months
        self.days = days
        self.micros = micros
    }

    /// The `DAY`, `WEEK`, `MONTH` or `YEAR` keyword, or an ISO 8601 duration of at least one hour and at most 100
    /// years; nil for anything else.
    public init?(parsing text: String) {
        switch text {
        case "DAY": self = .day
        case "WEEK": self = .week
        case "MONTH": self = .month
        case "YEAR": self = .year
        default:
            guard let parsed = CalendarInterval.parseISO(text) else { return nil }
            self = parsed
        }
        guard isWithinMaximum, approximateMicros >= CalendarInterval.minimumMicros else { return nil }
    }

    /// The keyword OpenMeter reports for this interval (`DAY`, `WEEK`, `MONTH`, `YEAR`), else the ISO text.
    public var keyword: String {
        switch self {
        case .day: "DAY"
        case .week: "WEEK"
        case .month: "MONTH"
        case .year: "YEAR"
        default: description
        }
    }

    /// The ISO 8601 text: `P1M`, `P2W`, `P1Y2M`, `PT6H`, `P1DT30M`.
    public var description: String {
        var text = "P"
        if months >= 12 { text += "\(months / 12)Y" }
        if months % 12 != 0 { text += "\(months % 12)M" }
        if days > 0, days % 7 == 0, months == 0, micros == 0 {
            text += "\(days / 7)W"
        } else if days > 0 {
            text += "\(days)D"
        }
        if micros > 0 {
            text += "T"
            let seconds = micros / Timestamp.microsPerSecond
            if seconds >= 3_600 { text += "\(seconds / 3_600)H" }
            if seconds % 3_600 >= 60 { text += "\(seconds % 3_600 / 60)M" }
            if seconds % 60 != 0 { text += "\(seconds % 60)S" }
        }
        return text == "P" ? "PT0S" : text
    }

    /// A lower bound of the interval's length (months at 28 days), used to bound how many steps a range holds.
    public var shortestMicros: Int64 {
        (Int64(months) * 28 + Int64(days)) * 86_400 * Timestamp.microsPerSecond + micros
    }

    /// At most 100 years in each part (months, days, the fixed part).
    var isWithinMaximum: Bool {
        months <= CalendarInterval.maximumMonths && days <= CalendarInterval.maximumMonths * 31
            && micros <= Int64(CalendarInterval.maximumMonths) * 31 * 86_400 * Timestamp.microsPerSecond
    }

    var approximateMicros: Int64 {
        (Int64(months) * 30 + Int64(days)) * 86_400 * Timestamp.microsPerSecond + micros
    }

    /// `start` advanced by `count` intervals, months clamped to the month's last day; nil outside years 0001–9999.
    public func advance(_ start: Timestamp, times count: Int) -> Timestamp? {
        let (day, microOfDay) = Self.split(start)
        var (year, month, dayOfMonth) = Timestamp.civilFromDays(day)
        let totalMonths = (year * 12 + month - 1) + months * count
        year = totalMonths >= 0 ? totalMonths / 12 : (totalMonths - 11) / 12
        month = totalMonths - year * 12 + 1
        guard year >= 1, year <= 9_999 else { return nil }
        dayOfMonth = min(dayOfMonth, Timestamp.daysIn(month: month, year: year))
        let days = Int64(Timestamp.daysFromCivil(year: year, month: month, day: dayOfMonth)) + Int64(self.days * count)
        let result = Timestamp(
            micros: days * 86_400 * Timestamp.microsPerSecond + microOfDay + micros * Int64(count))
        return result.isInAcceptedRange ? result : nil
    }

    static func split(_ instant: Timestamp) -> (day: Int, microOfDay: Int64) {
        let microsPerDay = 86_400 * Timestamp.microsPerSecond
        let day =
            instant.micros >= 0 ? instant.micros / microsPerDay : (instant.micros - microsPerDay + 1) / microsPerDay
        return (Int(day), instant.micros - day * microsPerDay)
    }

    private static func parseISO(_ text: String) -> CalendarInterval? {
        var bytes = Array(text.utf8)[...]
        guard bytes.popFirst() == UInt8(ascii: "P"), !bytes.isEmpty else { return nil }
        var result = CalendarInterval(months: 0, days: 0, micros: 0)
        var inTime = false
        var number = 0
        var digits = 0
        var seen = 0
        for byte in bytes {
            if byte >= 48, byte <= 57 {
                guard digits < 6 else { return nil }
                number = number * 10 + Int(byte - 48)
                digits += 1
                continue
            }
            if byte == UInt8(ascii: "T") {
                guard !inTime, digits == 0 else { return nil }
                inTime = true
                continue
            }
            guard digits > 0 else { return nil }
            switch (inTime, byte) {
            case (false, UInt8(ascii: "Y")): result.months += number * 12
            case (false, UInt8(ascii: "M")): result.months += number
            case (false, UInt8(ascii: "W")): result.days += number * 7
            case (false, UInt8(ascii: "D")): result.days += number
            case (true, UInt8(ascii: "H")): result.micros += Int64(number) * 3_600 * Timestamp.microsPerSecond
            case (true, UInt8(ascii: "M")): result.micros += Int64(number) * 60 * Timestamp.microsPerSecond
            case (true, UInt8(ascii: "S")): result.micros += Int64(number) * Timestamp.microsPerSecond
            default: return nil
            }
            // Each part has at most six digits, so one step cannot overflow; the bound keeps the sum from growing.
            guard result.isWithinMaximum else { return nil }
            number = 0
            digits = 0
            seen += 1
        }
        guard digits == 0, seen > 0 else { return nil }
        return result
    }
}
