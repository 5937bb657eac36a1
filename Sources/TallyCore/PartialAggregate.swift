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
public struct PartialAggregate: Sendable, Hashable {
    public var count: Int64 = 0
    public var sum: Amount = .zero
    public var min: Amount?
    public var max: Amount?
    public var latest: LatestValue?
    public var uniques: Set<String> = []

    public init() {}

    public init(count: Int64, sum: Amount, min: Amount?, max: Amount?, latest: LatestValue?, uniques: Set<String> = []) {
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.latest = latest
        self.uniques = uniques
    }

    /// Folds one sample taken at `time` into this partial.
    public mutating func add(_ sample: MeterSample, at time: Timestamp) {
        count += 1
        if let amount = sample.amount {
            sum += amount
            min = Swift.min(min ?? amount, amount)
            max = Swift.max(max ?? amount, amount)
            let candidate = LatestValue(time: time, value: amount)
            latest = latest.map { LatestValue.later($0, candidate) } ?? candidate
        }
        if let unique = sample.uniqueValue { uniques.insert(unique) }
    }

    /// Folds another partial into this one.
    public mutating func merge(_ other: PartialAggregate) {
        count += other.count
        sum += other.sum
        if let otherMin = other.min { min = Swift.min(min ?? otherMin, otherMin) }
        if let otherMax = other.max { max = Swift.max(max ?? otherMax, otherMax) }
        if let otherLatest = other.latest { latest = latest.map { LatestValue.later($0, otherLatest) } ?? otherLatest }
        uniques.formUnion(other.uniques)
    }

    /// The final value for `aggregation`; nil when nothing was counted.
    public func value(for aggregation: MeterAggregation) -> Amount? {
        guard count > 0 else { return nil }
        switch aggregation {
        case .sum: return sum
        case .count: return Amount(Int(count))
        case .uniqueCount: return Amount(uniques.count)
        case .avg: return sum.divided(by: count)
        case .min: return min
        case .max: return max
        case .latest: return latest?.value
        }
    }
}
