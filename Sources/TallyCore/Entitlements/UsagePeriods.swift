/// A metered entitlement's usage periods: the original grid from `measureUsageFrom`, then one grid per manual reset
/// (anchored at the reset, or on the old anchor when the reset retained it). The first period starts at
/// `measureUsageFrom`, not at the grid's boundary before it.
public struct UsagePeriods: Sendable, Hashable {
    /// Where one grid takes over: the start of metering or a manual reset.
    public struct Entry: Sendable, Hashable {
        public var start: Timestamp
        public var recurrence: Recurrence

        public init(start: Timestamp, recurrence: Recurrence) {
            self.start = start
            self.recurrence = recurrence
        }
    }

    /// Sorted by `start`; never empty.
    public var entries: [Entry]

    public init(
        measureUsageFrom: Timestamp, usagePeriod: Recurrence, manualResets: [(at: Timestamp, retainAnchor: Bool)]
    ) {
        var entries = [Entry(start: measureUsageFrom, recurrence: usagePeriod)]
        for reset in manualResets.sorted(by: { $0.at < $1.at }) {
            let previous = entries[entries.count - 1].recurrence
            let anchor = reset.retainAnchor ? previous.anchor : reset.at
            entries.append(Entry(start: reset.at, recurrence: Recurrence(anchor: anchor, interval: previous.interval)))
        }
        self.entries = entries
    }

    /// The usage period holding `instant` (the first period for an instant before metering started).
    public func period(at instant: Timestamp) -> TimePeriod? {
        let index = entries.lastIndex { $0.start <= instant } ?? 0
        let entry = entries[index]
        guard let grid = entry.recurrence.period(containing: max(instant, entry.start)) else { return nil }
        let end = index + 1 < entries.count ? min(grid.to, entries[index + 1].start) : grid.to
        return TimePeriod(from: max(grid.from, entry.start), to: end)
    }

    /// The automatic period boundaries inside `(from, to]` (manual resets excluded), at most `limit`; nil when more.
    public func boundaries(after from: Timestamp, through to: Timestamp, limit: Int) -> [Timestamp]? {
        var result: [Timestamp] = []
        for (index, entry) in entries.enumerated() {
            let entryEnd = index + 1 < entries.count ? entries[index + 1].start : nil
            let lower = max(from, entry.start)
            let upper = entryEnd.map { min(to, $0) } ?? to
            guard lower < upper else { continue }
            guard let times = entry.recurrence.times(from: lower, through: upper, limit: limit - result.count) else {
                return nil
            }
            result += times.filter { time in time > lower && entryEnd.map { time < $0 } ?? true }
        }
        return result
    }
}
