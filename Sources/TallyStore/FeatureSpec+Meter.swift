import TallyCore

extension FeatureSpec {
    /// Checks the feature against the live meter its `meterSlug` names (nil: none has it), as a node and a coordinator
    /// both do before storing it: the meter must exist and aggregate with SUM, COUNT, UNIQUE_COUNT or LATEST (SUM or
    /// COUNT for `enforcement: reject`), and every group-by filter must name one of its groups.
    public func check(meter: MeterDefinition?) throws(EntitlementStoreError) {
        guard let slug = meterSlug else { return }
        guard let meter else { throw .meterNotFound(slug) }
        guard [.sum, .count, .uniqueCount, .latest].contains(meter.aggregation) else {
            throw .meterAggregationUnsupported(meter.aggregation.rawValue)
        }
        if enforcement == .reject, ![.sum, .count].contains(meter.aggregation) {
            throw .invalid(
                field: "enforcement",
                reason: "reject needs a SUM or COUNT meter; \(meter.slug) aggregates with \(meter.aggregation.rawValue)"
            )
        }
        for key in (meterGroupByFilters ?? [:]).keys.sorted() where meter.groupBy[key] == nil {
            throw .invalid(field: "meterGroupByFilters.\(key.echoed)", reason: "is not a group of meter \(meter.slug)")
        }
    }
}
