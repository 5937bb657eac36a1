/// An exact decimal quantity: a signed fixed-point number with nine fractional digits held in an `Int128`.
///
/// Sums of `Amount`s never depend on the order of addition, which is what lets shards and
/// concurrent batches be merged without drift. The range is about ±1.7e29 with nanounit resolution.
/// Arithmetic is checked: an operation whose result does not fit returns nil instead of trapping.
public struct Amount: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Number of fractional decimal digits kept.
    public static let fractionDigits = 9
    /// `10^fractionDigits`: the raw units in one whole unit.
    public static let unitsPerWhole: Int128 = 1_000_000_000

    /// The value times `unitsPerWhole`.
    public var units: Int128

    public init(units: Int128) { self.units = units }
    public init(_ whole: Int) { self.units = Int128(whole) * Amount.unitsPerWhole }

    public static let zero = Amount(units: 0)

    /// Largest magnitude of one event's value a meter counts: 10^18 whole units. Larger values are a per-meter
    /// validation error at ingest, so sums of up to ~1.7e11 maximal events per aggregate still fit.
    public static let maxEventMagnitude = Amount(units: 1_000_000_000_000_000_000 * unitsPerWhole)

    /// The sum, or nil when it does not fit.
    public func adding(_ other: Amount) -> Amount? {
        let (sum, overflow) = units.addingReportingOverflow(other.units)
        return overflow ? nil : Amount(units: sum)
    }

    /// The difference, or nil when it does not fit.
    public func subtracting(_ other: Amount) -> Amount? {
        let (difference, overflow) = units.subtractingReportingOverflow(other.units)
        return overflow ? nil : Amount(units: difference)
    }

    /// Whether this value is within ±`maxEventMagnitude`.
    public var isWithinEventRange: Bool { units.magnitude <= Amount.maxEventMagnitude.units.magnitude }

    public static func < (lhs: Amount, rhs: Amount) -> Bool { lhs.units < rhs.units }

    /// The quotient rounded half away from zero to nine fractional digits (used for AVG).
    public func divided(by count: Int64) -> Amount {
        precondition(count > 0, "division by a non-positive count")
        let divisor = Int128(count)
        var quotient = units / divisor
        let remainder = units % divisor
        if remainder.magnitude * 2 >= divisor.magnitude {
            quotient += units < 0 ? -1 : 1
        }
        return Amount(units: quotient)
    }

    /// Parses a decimal number as written in JSON (`-12.5`, `3e2`, `0.000000001`) or as a numeric string
    /// (surrounding whitespace not allowed). Returns nil when the text is not a number, overflows, or
    /// carries more than nine significant fractional digits after applying the exponent.
    /// One pass over the UTF-8 bytes, no allocation: it runs for every value of every ingested event.
    public init?(parsing text: some StringProtocol) {
        var value: Int128 = 0
        var negative = false
        var fractionCount = 0
        var seenPoint = false
        var seenDigit = false
        var exponent = 0
        var exponentNegative = false
        var exponentDigits = 0
        var inExponent = false
        var first = true
        for byte in text.utf8 {
            defer { first = false }
            if inExponent {
                if exponentDigits == 0, byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+"), !exponentNegative {
                    exponentNegative = byte == UInt8(ascii: "-")
                    continue
                }
                guard byte >= 48, byte <= 57, exponentDigits < 4 else { return nil }
                exponent = exponent * 10 + Int(byte - 48)
                exponentDigits += 1
                continue
            }
            switch byte {
            case 48...57:
                let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(Int128(byte - 48))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                if seenPoint { fractionCount += 1 }
                seenDigit = true
            case UInt8(ascii: "."):
                guard !seenPoint else { return nil }
                seenPoint = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                guard seenDigit else { return nil }
                inExponent = true
            case UInt8(ascii: "-") where first:
                negative = true
            case UInt8(ascii: "+") where first:
                break
            default:
                return nil
            }
        }
        guard seenDigit, !inExponent || exponentDigits > 0, exponent < 400 else { return nil }
        let scale = Amount.fractionDigits - fractionCount + (exponentNegative ? -exponent : exponent)
        if scale >= 0 {
            for _ in 0..<scale {
                let (next, overflow) = value.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                value = next
            }
        } else {
            for _ in 0..<(-scale) {
                guard value % 10 == 0 else { return nil }
                value /= 10
            }
        }
        self.units = negative ? -value : value
    }

    /// `whole` as an amount; nil when it does not fit.
    public init?(exactly whole: Int64) {
        let (units, overflow) = Int128(whole).multipliedReportingOverflow(by: Amount.unitsPerWhole)
        guard !overflow else { return nil }
        self.units = units
    }

    /// Shortest exact decimal text: `12`, `-0.5`, `3.000000001`.
    public var description: String {
        let magnitude = units.magnitude
        let whole = magnitude / UInt128(Amount.unitsPerWhole)
        var fraction = magnitude % UInt128(Amount.unitsPerWhole)
        var text = (units < 0 ? "-" : "") + String(whole)
        if fraction != 0 {
            var width = Amount.fractionDigits
            while fraction % 10 == 0 {
                fraction /= 10
                width -= 1
            }
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: width - digits.count) + digits
        }
        return text
    }
}
