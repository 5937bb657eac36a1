/// How a meter folds event values: the seven OpenMeter aggregations.
public enum MeterAggregation: String, Sendable, Hashable, CaseIterable {
    case sum = "SUM"
    case count = "COUNT"
    case uniqueCount = "UNIQUE_COUNT"
    case avg = "AVG"
    case min = "MIN"
    case max = "MAX"
    case latest = "LATEST"

    /// Whether the aggregation reads a value through `valueProperty`.
    public var needsValue: Bool { self != .count }
}
