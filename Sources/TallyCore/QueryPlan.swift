/// Which pre-aggregates answer a query: the coarsest buckets that lie wholly inside one of the query's windows,
/// finer ones only at window and range edges. A pure decision; the store reads the pieces.
///
/// Every bucket of a piece lies inside one window, so adding each bucket at its start time puts it in the right
/// window, and the answer equals the one computed from minutes. Windows whose edges are not on a UTC hour (time
/// zones at :30 or :45 offsets) take those partial hours from minutes; local days that are not UTC days (any zone
/// but UTC, DST days of 23 or 25 hours) take their hours from hourly buckets.
public struct QueryPlan: Sendable, Hashable {
    /// A time range read at one resolution; both ends lie on that resolution's boundaries.
    public struct Piece: Sendable, Hashable, CustomStringConvertible {
        public var resolution: Resolution
        public var range: Range<Timestamp>

        public init(_ resolution: Resolution, _ range: Range<Timestamp>) {
            self.resolution = resolution
            self.range = range
        }

        public var description: String { "\(resolution) \(range.lowerBound)..<\(range.upperBound)" }
    }

    /// The pieces in time order; adjacent pieces of one resolution are joined.
    public private(set) var pieces: [Piece] = []

    /// Plans whole minutes `range` (both ends on minutes) for windows of `windowSize` in `calendar` (no windows: one
    /// range). A window whose edge is not on a minute (historical local mean time) owns the minute its edge falls
    /// in, as `QueryAccumulator` assigns minutes.
    public init(range: Range<Timestamp>, windowSize: WindowSize?, calendar: WindowCalendar) {
        guard !range.isEmpty else { return }
        guard let windowSize else {
            append(covering: range)
            return
        }
        if windowSize == .minute {
            append(Piece(.minute, range))
            return
        }
        var start = range.lowerBound
        while start < range.upperBound {
            let window = calendar.window(windowSize, containing: start)
            let end = Swift.min(window.end.minuteCeiling, range.upperBound)
            guard end > start else {
                append(Piece(.minute, start..<range.upperBound))
                return
            }
            append(covering: start..<end)
            start = end
        }
    }

    /// Covers `range` with minutes up to the first hour, hours up to the first day, days, then hours and minutes.
    private mutating func append(covering range: Range<Timestamp>) {
        let hours =
            Resolution.hour.ceiling(
                range.lowerBound)..<Swift.max(
                Resolution.hour.ceiling(range.lowerBound), Resolution.hour.floor(range.upperBound))
        guard !hours.isEmpty else {
            append(Piece(.minute, range))
            return
        }
        append(Piece(.minute, range.lowerBound..<hours.lowerBound))
        let dayStart = Resolution.day.ceiling(hours.lowerBound)
        let dayEnd = Resolution.day.floor(hours.upperBound)
        if dayStart < dayEnd {
            append(Piece(.hour, hours.lowerBound..<dayStart))
            append(Piece(.day, dayStart..<dayEnd))
            append(Piece(.hour, dayEnd..<hours.upperBound))
        } else {
            append(Piece(.hour, hours))
        }
        append(Piece(.minute, hours.upperBound..<range.upperBound))
    }

    private mutating func append(_ piece: Piece) {
        guard !piece.range.isEmpty else { return }
        if let last = pieces.last, last.resolution == piece.resolution, last.range.upperBound == piece.range.lowerBound
        {
            pieces[pieces.count - 1].range = last.range.lowerBound..<piece.range.upperBound
        } else {
            pieces.append(piece)
        }
    }
}
