/// An instant as whole microseconds since 1970-01-01T00:00:00Z: Tally's single time representation.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public static let microsPerSecond: Int64 = 1_000_000
    public static let microsPerMinute: Int64 = 60_000_000

    public var micros: Int64

    public init(micros: Int64) { self.micros = micros }

    /// The earliest instant Tally accepts from outside: 0001-01-01T00:00:00Z.
    public static let earliest = Timestamp(
        micros: Int64(daysFromCivil(year: 1, month: 1, day: 1)) * 86_400 * microsPerSecond)
    /// The latest instant Tally accepts from outside: 9999-12-31T23:59:59.999999Z. With a day of margin on each
    /// side, every window, offset and rendering of an accepted time stays within `Int64` and four-digit years.
    public static let latest = Timestamp(
        micros: Int64(daysFromCivil(year: 10_000, month: 1, day: 1)) * 86_400 * microsPerSecond - 1)

    /// Whether this instant is within years 0001–9999 (UTC).
    public var isInAcceptedRange: Bool { self >= Timestamp.earliest && self <= Timestamp.latest }
    public init(seconds: Int64) { self.micros = seconds * Timestamp.microsPerSecond }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.micros < rhs.micros }

    /// The start of the UTC minute holding this instant.
    public var minuteFloor: Timestamp {
        Timestamp(
            micros: micros - ((micros % Timestamp.microsPerMinute) + Timestamp.microsPerMinute)
                % Timestamp.microsPerMinute)
    }

    /// The smallest minute boundary at or after this instant.
    public var minuteCeiling: Timestamp {
        let floor = minuteFloor
        return floor == self ? floor : Timestamp(micros: floor.micros + Timestamp.microsPerMinute)
    }

    /// Parses an RFC 3339 date-time (`2024-01-01T00:00:00Z`, `2024-01-01T01:00:00.123456+01:00`).
    /// Fractions beyond microseconds are truncated. Returns nil for anything else, and for instants outside
    /// years 0001–9999 once the offset is applied.
    public init?(rfc3339 text: some StringProtocol) {
        let b = Array(text.utf8)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var value = 0
            for i in start..<(start + count) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard b.count >= 20,
            let year = digits(0, 4), b[4] == UInt8(ascii: "-"),
            let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"),
            let minute = digits(14, 2), b[16] == UInt8(ascii: ":"),
            let second = digits(17, 2),
            (1...12).contains(month), day >= 1, day <= Timestamp.daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fractionMicros: Int64 = 0
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            var scale: Int64 = 100_000
            let start = index
            while index < b.count, b[index] >= 48, b[index] <= 57 {
                fractionMicros += Int64(b[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < b.count else { return nil }
        var offsetSeconds = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let offsetHours = digits(index + 1, 2), b.count > index + 3, b[index + 3] == UInt8(ascii: ":"),
                let offsetMinutes = digits(index + 4, 2), offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (b[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let days = Timestamp.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        self.micros = seconds * Timestamp.microsPerSecond + fractionMicros
        guard isInAcceptedRange else { return nil }
    }

    /// RFC 3339 in UTC: `2024-01-01T00:00:00Z`, with `.ffffff` only when there is a fraction (trailing zeros trimmed to
    /// ms or µs).
    public var description: String {
        let seconds =
            micros >= 0
            ? micros / Timestamp.microsPerSecond : (micros - Timestamp.microsPerSecond + 1) / Timestamp.microsPerSecond
        let fraction = micros - seconds * Timestamp.microsPerSecond
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Timestamp.civilFromDays(Int(days))
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text =
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(Int(secondOfDay / 3600), 2)):"
            + "\(pad(Int(secondOfDay / 60 % 60), 2)):\(pad(Int(secondOfDay % 60), 2))"
        if fraction != 0 {
            text += fraction % 1000 == 0 ? "." + pad(Int(fraction / 1000), 3) : "." + pad(Int(fraction), 6)
        }
        return text + "Z"
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
