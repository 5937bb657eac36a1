/// The latest value seen: the greatest (time, value) pair, so merging is order-independent.
public struct LatestValue: Sendable, Hashable {
    public var time: Timestamp
    public var value: Amount

    public init(time: Timestamp, value: Amount) {
        self.time = time
        self.value = value
    }

    /// The later of two; at equal times the larger value, so the answer never depends on arrival order.
    public static func later(_ a: LatestValue, _ b: LatestValue) -> LatestValue {
        (a.time, a.value.units) >= (b.time, b.value.units) ? a : b
    }
}

/// A mergeable partial aggregate that serves all seven aggregations: merging partials in any order
/// or grouping gives the same result as aggregating all events at once.
///
/// Count and sum are checked: when either would overflow, the partial is marked `overflowed` (and stays so
/// through every merge), and the aggregations that read them answer `AggregateOverflow` instead of a wrong value.
public struct PartialAggregate: Sendable, Hashable {
    public var count: Int64 = 0
    public var sum: Amount = .zero
    public var min: Amount?
    public var max: Amount?
    public var latest: LatestValue?
    public var uniques: Set<Identifier> = []
    /// Whether `count` or `sum` overflowed; their values are then meaningless.
    public var overflowed = false

    public init() {}

    public init(
        count: Int64, sum: Amount, min: Amount?, max: Amount?, latest: LatestValue?, uniques: Set<Identifier> = [],
        overflowed: Bool = false
    ) {
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.latest = latest
        self.uniques = uniques
        self.overflowed = overflowed
    }

    /// Folds one sample taken at `time` into this partial.
    public mutating func add(_ sample: MeterSample, at time: Timestamp) {
        addCount(1)
        if let amount = sample.amount {
            addSum(amount)
            min = Swift.min(min ?? amount, amount)
            max = Swift.max(max ?? amount, amount)
            let candidate = LatestValue(time: time, value: amount)
            latest = latest.map { LatestValue.later($0, candidate) } ?? candidate
        }
        if let unique = sample.uniqueValue { uniques.insert(unique) }
    }

    /// Folds another partial into this one.
    public mutating func merge(_ other: PartialAggregate) {
        addCount(other.count)
        addSum(other.sum)
        overflowed = overflowed || other.overflowed
        if let otherMin = other.min { min = Swift.min(min ?? otherMin, otherMin) }
        if let otherMax = other.max { max = Swift.max(max ?? otherMax, otherMax) }
        if let otherLatest = other.latest { latest = latest.map { LatestValue.later($0, otherLatest) } ?? otherLatest }
        uniques.formUnion(other.uniques)
    }

    private mutating func addCount(_ other: Int64) {
        let (total, overflow) = count.addingReportingOverflow(other)
        if overflow { overflowed = true } else { count = total }
    }

    private mutating func addSum(_ other: Amount) {
        if let total = sum.adding(other) { sum = total } else { overflowed = true }
    }

    /// The final value for `aggregation`; nil when nothing was counted. Throws when the value needs a
    /// count or sum that overflowed.
    public func value(for aggregation: MeterAggregation) throws(AggregateOverflow) -> Amount? {
        guard count > 0 || overflowed else { return nil }
        switch aggregation {
        case .sum, .avg, .count:
            guard !overflowed else { throw AggregateOverflow() }
            return aggregation == .sum ? sum : aggregation == .count ? Amount(Int(count)) : sum.divided(by: count)
        case .uniqueCount: return Amount(uniques.count)
        case .min: return min
        case .max: return max
        case .latest: return latest?.value
        }
    }
}

/// A count or sum too large for `Amount` (about ±1.7e29).
public struct AggregateOverflow: Error, Sendable, Hashable {
    public init() {}
}
