/// A grant's id: a ULID string.
public struct GrantID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let text: String
    public init(_ text: String) { self.text = text }
    public var description: String { text }
    public static func < (lhs: GrantID, rhs: GrantID) -> Bool { lhs.text.bytesPrecede(rhs.text) }
}

extension GrantID: CodingKeyRepresentable {
    /// Grant ids key JSON objects (a snapshot's balances), so stored snapshots encode the same bytes everywhere.
    public var codingKey: any CodingKey { Key(stringValue: text) }

    public init?<T: CodingKey>(codingKey: T) { self.init(codingKey.stringValue) }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// Credit given to a metered entitlement: `amount` units usable from `effectiveAt` until it expires or is voided,
/// optionally refilled to `amount` at every instant of `recurrence`. Times are whole minutes (the API floors them).
public struct Grant: Sendable, Hashable, Codable {
    public var id: GrantID
    public var amount: Amount
    /// 0 burns first, 255 last.
    public var priority: Int
    public var effectiveAt: Timestamp
    public var expiresAt: Timestamp?
    public var voidedAt: Timestamp?
    public var deletedAt: Timestamp?
    public var createdAt: Timestamp
    public var minRolloverAmount: Amount
    public var maxRolloverAmount: Amount
    public var recurrence: Recurrence?

    public init(
        id: GrantID, amount: Amount, priority: Int = 0, effectiveAt: Timestamp, expiresAt: Timestamp? = nil,
        voidedAt: Timestamp? = nil, deletedAt: Timestamp? = nil, createdAt: Timestamp? = nil,
        minRolloverAmount: Amount = .zero, maxRolloverAmount: Amount = .zero, recurrence: Recurrence? = nil
    ) {
        self.id = id
        self.amount = amount
        self.priority = priority
        self.effectiveAt = effectiveAt
        self.expiresAt = expiresAt
        self.voidedAt = voidedAt
        self.deletedAt = deletedAt
        self.createdAt = createdAt ?? effectiveAt
        self.minRolloverAmount = minRolloverAmount
        self.maxRolloverAmount = maxRolloverAmount
        self.recurrence = recurrence
    }

    /// When the grant stops burning: the earliest of its expiry, void and deletion.
    public var end: Timestamp? { [expiresAt, voidedAt, deletedAt].compactMap(\.self).min() }

    /// Whether the grant can burn at `instant`: `effectiveAt ≤ instant < end`.
    public func isActive(at instant: Timestamp) -> Bool {
        effectiveAt <= instant && end.map { instant < $0 } ?? true
    }

    /// The balance kept over a reset: the balance clamped to `[minRolloverAmount, maxRolloverAmount]`.
    public func rolledOver(_ balance: Amount) -> Amount {
        min(maxRolloverAmount, max(balance, minRolloverAmount))
    }

    /// OpenMeter's burn order: lower priority number, then earlier expiry (none last), then earlier creation, then id.
    public static func burnsBefore(_ lhs: Grant, _ rhs: Grant) -> Bool {
        if lhs.priority != rhs.priority { return lhs.priority < rhs.priority }
        switch (lhs.expiresAt, rhs.expiresAt) {
        case (let left?, let right?) where left != right: return left < right
        case (.some, nil): return true
        case (nil, .some): return false
        default: break
        }
        if lhs.createdAt != rhs.createdAt { return lhs.createdAt < rhs.createdAt }
        return lhs.id < rhs.id
    }
}

/// How long a grant lasts after `effectiveAt`: `count` hours, days, weeks, months or years.
public struct GrantExpiration: Sendable, Hashable, Codable {
    public enum Unit: String, Sendable, Hashable, Codable, CaseIterable {
        case hour = "HOUR"
        case day = "DAY"
        case week = "WEEK"
        case month = "MONTH"
        case year = "YEAR"
    }

    public var unit: Unit
    /// 1 to `maxCount`.
    public var count: Int
    /// The largest count a grant's expiration may have.
    public static let maxCount = 1_000

    public init(unit: Unit, count: Int) {
        self.unit = unit
        self.count = count
    }

    /// `start` plus the duration with OpenMeter's (Go `AddDate`) month arithmetic: a day past the month's end
    /// overflows into the next month (Jan 31 + 1 MONTH = Mar 3, or Mar 2 in a leap year). nil past year 9999.
    public func expiry(from start: Timestamp) -> Timestamp? {
        let microsPerDay = 86_400 * Timestamp.microsPerSecond
        switch unit {
        case .hour:
            let result = Timestamp(micros: start.micros + Int64(count) * 3_600 * Timestamp.microsPerSecond)
            return result.isInAcceptedRange ? result : nil
        case .day, .week:
            let days = Int64(count * (unit == .week ? 7 : 1))
            let result = Timestamp(micros: start.micros + days * microsPerDay)
            return result.isInAcceptedRange ? result : nil
        case .month, .year:
            let (day, microOfDay) = CalendarInterval.split(start)
            let (year, month, dayOfMonth) = Timestamp.civilFromDays(day)
            let totalMonths = year * 12 + month - 1 + count * (unit == .year ? 12 : 1)
            let firstOfMonth = Timestamp.daysFromCivil(year: totalMonths / 12, month: totalMonths % 12 + 1, day: 1)
            let result = Timestamp(micros: Int64(firstOfMonth + dayOfMonth - 1) * microsPerDay + microOfDay)
            return result.isInAcceptedRange ? result : nil
        }
    }
}
