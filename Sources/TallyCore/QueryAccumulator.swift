/// Collects partial aggregates into query rows. Accumulators merge (`merge(_:)`), so partial answers
/// from several stores give the same rows as one store holding every event.
public struct QueryAccumulator: Sendable {
    /// Key of one output row before its window end and value are computed.
    struct RowKey: Hashable, Sendable {
        var windowStart: Timestamp?
        var subject: String?
        var groupValues: [String?]
    }

    public let meter: MeterDefinition
    public let query: MeterQuery
    private let calendar: WindowCalendar
    var rows: [RowKey: PartialAggregate] = [:]
    /// Minute → start of its window, and window start → window end.
    private var windowStarts: [Timestamp: Timestamp] = [:]
    private var windowEnds: [Timestamp: Timestamp] = [:]
    /// Earliest minute seen, for the window start of an unwindowed query without `from`.
    var earliest: Timestamp?

    public init(meter: MeterDefinition, query: MeterQuery, calendar: WindowCalendar) {
        self.meter = meter
        self.query = query
        self.calendar = calendar
    }

    /// Adds the partial of events at `minute` (or, for edge events, their exact time).
    public mutating func add(time: Timestamp, subject: String, groupValues: [String: String?], partial: PartialAggregate) {
        guard query.accepts(subject: subject, groupValues: groupValues) else { return }
        var windowStart: Timestamp?
        if let size = query.windowSize {
            let minute = time.minuteFloor
            if let cached = windowStarts[minute] {
                windowStart = cached
            } else {
                let window = calendar.window(size, containing: minute)
                windowStarts[minute] = window.start
                windowEnds[window.start] = window.end
                windowStart = window.start
            }
        }
        earliest = Swift.min(earliest ?? time, time)
        let key = RowKey(windowStart: windowStart, subject: query.groupsBySubject ? subject : nil,
                         groupValues: query.meterGroupNames.map { groupValues[$0] ?? nil })
        rows[key, default: PartialAggregate()].merge(partial)
    }

    /// Folds another accumulator for the same meter and query into this one.
    public mutating func merge(_ other: QueryAccumulator) {
        for (key, partial) in other.rows { rows[key, default: PartialAggregate()].merge(partial) }
        windowEnds.merge(other.windowEnds) { current, _ in current }
        if let otherEarliest = other.earliest { earliest = Swift.min(earliest ?? otherEarliest, otherEarliest) }
    }

    /// The rows, sorted by window start, subject and group values. `now` ends an open-ended range.
    public func result(now: Timestamp) -> [MeterQueryRow] {
        let names = query.meterGroupNames
        var output: [MeterQueryRow] = []
        for (key, partial) in rows {
            guard let value = partial.value(for: meter.aggregation) else { continue }
            let start: Timestamp
            let end: Timestamp
            if let windowStart = key.windowStart, let size = query.windowSize {
                start = windowStart
                end = windowEnds[windowStart] ?? calendar.window(size, containing: windowStart).end
            } else {
                start = query.from ?? earliest?.minuteFloor ?? now
                end = query.to ?? now
            }
            var groups: [String: String?] = [:]
            for (index, name) in names.enumerated() { groups.updateValue(key.groupValues[index], forKey: name) }
            output.append(MeterQueryRow(value: value, windowStart: start, windowEnd: end, subject: key.subject, groupBy: groups))
        }
        return output.sorted { a, b in
            if a.windowStart != b.windowStart { return a.windowStart < b.windowStart }
            if a.subject != b.subject { return (a.subject ?? "") < (b.subject ?? "") }
            return QueryAccumulator.sortKey(a, names).lexicographicallyPrecedes(QueryAccumulator.sortKey(b, names))
        }
    }

    private static func sortKey(_ row: MeterQueryRow, _ names: [String]) -> [String] {
        names.map { name -> String in
            let value: String?? = row.groupBy[name]
            return (value ?? nil) ?? ""
        }
    }
}
