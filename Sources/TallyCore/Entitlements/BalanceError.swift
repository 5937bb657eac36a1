/// Why a balance could not be computed.
public enum BalanceError: Error, Sendable, Hashable {
    /// The calculation would cross more than `limit` resets, grant changes or recurrences (a far-away `time`
    /// with a short usage period or recurrence).
    case tooManyPhases(limit: Int)
    /// A sum left the range of `Amount`.
    case overflow
    /// The usage period's or a recurrence's grid leaves years 0001–9999 inside the calculation.
    case outOfRange
}
