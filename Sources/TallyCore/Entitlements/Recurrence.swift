/// Instants `anchor + k × interval` for every whole `k` (negative too), each computed from the anchor so month
/// clamping never drifts: a monthly grid anchored on Jan 31 gives Feb 28 (29), Mar 31, Apr 30.
public struct Recurrence: Sendable, Hashable, Codable {
    public var anchor: Timestamp
    public var interval: CalendarInterval

    public init(anchor: Timestamp, interval: CalendarInterval) {
        self.anchor = anchor
        self.interval = interval
    }

    /// The `k`-th instant; nil outside years 0001–9999.
    public func time(_ k: Int) -> Timestamp? { interval.advance(anchor, times: k) }

    /// The step `k` with `time(k) ≤ instant < time(k + 1)`; nil when the grid leaves the accepted years there.
    public func step(containing instant: Timestamp) -> Int? {
        let averageMicros =
            (Double(interval.months) * 30.436875 + Double(interval.days)) * 86_400e6 + Double(interval.micros)
        let estimate = (Double(instant.micros) - Double(anchor.micros)) / max(averageMicros, 1)
        guard estimate.magnitude < 1e9 else { return nil }
        var k = Int(estimate.rounded(.down))
        for _ in 0..<64 {
            guard let start = time(k) else { return nil }
            if start > instant {
                k -= 1
                continue
            }
            guard let end = time(k + 1) else { return nil }
            if end <= instant {
                k += 1
                continue
            }
            return k
        }
        return nil
    }

    /// The period `[time(k), time(k + 1))` holding `instant`.
    public func period(containing instant: Timestamp) -> TimePeriod? {
        guard let k = step(containing: instant), let start = time(k), let end = time(k + 1) else { return nil }
        return TimePeriod(from: start, to: end)
    }

    /// The instants of the grid inside `[from, to]`, at most `limit` of them; nil when there are more.
    public func times(from: Timestamp, through to: Timestamp, limit: Int) -> [Timestamp]? {
        guard from <= to, var k = step(containing: from) else { return [] }
        var result: [Timestamp] = []
        while let instant = time(k), instant <= to {
            if instant >= from {
                guard result.count < limit else { return nil }
                result.append(instant)
            }
            k += 1
        }
        return result
    }
}

/// A half-open span of time `[from, to)`.
public struct TimePeriod: Sendable, Hashable, Codable {
    public var from: Timestamp
    public var to: Timestamp

    public init(from: Timestamp, to: Timestamp) {
        self.from = from
        self.to = to
    }

    public func contains(_ instant: Timestamp) -> Bool { from <= instant && instant < to }
}
