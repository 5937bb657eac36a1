/// Collects partial aggregates into query rows. Accumulators merge (`merge(_:)`), so partial answers
/// from several stores give the same rows as one store holding every event.
public struct QueryAccumulator: Sendable {
    /// Key of one output row before its window end and value are computed.
    struct RowKey: Hashable, Sendable {
        var windowStart: Timestamp?
        var subject: Identifier?
        var groupValues: [Identifier?]
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
    public mutating func add(
        time: Timestamp, subject: String, groupValues: [String: String?], partial: PartialAggregate
    ) {
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
        let key = RowKey(
            windowStart: windowStart, subject: query.groupsBySubject ? Identifier(subject) : nil,
            groupValues: query.meterGroupNames.map { (groupValues[$0] ?? nil).map { Identifier($0) } })
        rows[key, default: PartialAggregate()].merge(partial)
    }

    /// The earliest time added so far.
    public var earliestTime: Timestamp? { earliest }

    /// Replaces the earliest time (the start of an hourly or daily bucket) with the first minute of that bucket
    /// that has data, so an unwindowed query without `from` starts where the data does whatever was read.
    public mutating func refineEarliest(to exact: Timestamp) { earliest = exact }

    /// Folds another accumulator for the same meter and query into this one.
    public mutating func merge(_ other: QueryAccumulator) {
        for (key, partial) in other.rows { rows[key, default: PartialAggregate()].merge(partial) }
        windowEnds.merge(other.windowEnds) { current, _ in current }
        if let otherEarliest = other.earliest { earliest = Swift.min(earliest ?? otherEarliest, otherEarliest) }
    }

    /// The value of every row merged into one (an unwindowed query's total across subjects and groups: distinct
    /// values counted once, the latest value overall); nil without data.
    public func mergedValue() throws(QueryOverflow) -> Amount? {
        var merged = PartialAggregate()
        for partial in rows.values { merged.merge(partial) }
        do { return try merged.value(for: meter.aggregation) } catch {
            throw QueryOverflow(
                meterSlug: meter.slug, windowStart: query.from ?? .now, windowEnd: query.to ?? .now)
        }
    }

    /// The rows, sorted by window start, subject and group values (identifiers in byte order, absent first).
    /// `now` ends an open-ended range. Throws when a row's value overflows, naming the meter and the window.
    public func result(now: Timestamp) throws(QueryOverflow) -> [MeterQueryRow] {
        let names = query.meterGroupNames
        var keyed: [(RowKey, MeterQueryRow)] = []
        for (key, partial) in rows {
            let start: Timestamp
            let end: Timestamp
            if let windowStart = key.windowStart, let size = query.windowSize {
                start = windowStart
                end = windowEnds[windowStart] ?? calendar.window(size, containing: windowStart).end
            } else {
                start = query.from ?? earliest?.minuteFloor ?? now
                end = query.to ?? now
            }
            let value: Amount?
            do { value = try partial.value(for: meter.aggregation) } catch {
                throw QueryOverflow(meterSlug: meter.slug, windowStart: start, windowEnd: end)
            }
            guard let value else { continue }
            var groups: [String: String?] = [:]
            for (index, name) in names.enumerated() { groups.updateValue(key.groupValues[index]?.text, forKey: name) }
            keyed.append(
                (
                    key,
                    MeterQueryRow(
                        value: value, windowStart: start, windowEnd: end, subject: key.subject?.text,
                        groupBy: groups)
                ))
        }
        keyed.sort { a, b in
            if a.1.windowStart != b.1.windowStart { return a.1.windowStart < b.1.windowStart }
            if a.0.subject != b.0.subject { return Identifier?.precedes(a.0.subject, b.0.subject) }
            return a.0.groupValues.lexicographicallyPrecedes(b.0.groupValues, by: Identifier?.precedes)
        }
        return keyed.map(\.1)
    }
}

/// A query row whose count or sum does not fit in an `Amount`: answered 422 naming the meter and window.
public struct QueryOverflow: Error, Sendable, Hashable {
    public var meterSlug: String
    public var windowStart: Timestamp
    public var windowEnd: Timestamp
}

/// A query that would carry more than `MeterQuery.maxDistinctValueEntries` distinct-value entries: answered 422.
public struct QueryTooLarge: Error, Sendable, Hashable {
    public var meterSlug: String
    public var limit: Int

    public init(meterSlug: String, limit: Int) {
        self.meterSlug = meterSlug
        self.limit = limit
    }
}
