/// The usage a metered entitlement's balance depends on, held in memory so its value at any later minute is computed
/// without a query (inline enforcement's current balance): the usage of each phase up to `base`, answered by the
/// store once, and per-minute totals of the usage at or after `base`, added as events commit. Values come from the
/// same `MeteredBalance` calculation the value endpoint runs, so they are exactly what the store would compute. Only
/// additive usage (SUM and COUNT meters) can be held this way.
public struct LiveUsage: Sendable {
    /// Most minutes after `base` one live usage holds; a store loads it again from `base` = now beyond that.
    public static let maxMinutes = 1_440

    public let balance: MeteredBalance
    /// The minute the loaded usage reaches: every phase of `balance.phases(to: base)` is answered.
    public let base: Timestamp
    private var loaded: PhaseUsages
    private let loadedPhases: [UsagePhase]
    /// Usage at or after `base`, by the start of its minute (micros).
    private var minutes: [Int64: Amount] = [:]

    /// `usage` answers `balance.phases(to: base)` (`base` a whole minute).
    public init(balance: MeteredBalance, base: Timestamp, usage: PhaseUsages) throws(BalanceError) {
        self.balance = balance
        self.base = base
        self.loaded = usage
        self.loadedPhases = try balance.phases(to: base)
    }

    /// Whether the usage holds its most minutes.
    public var isFull: Bool { minutes.count >= Self.maxMinutes }

    /// Adds usage `amount` at `time`; false (nothing changed) when a total would overflow or (`bounded`) the minutes
    /// are full. Usage before `base` outside every phase (before the last manual reset or the start of metering)
    /// counts nowhere.
    public mutating func add(_ amount: Amount, at time: Timestamp, bounded: Bool = true) -> Bool {
        if time >= base {
            let minute = time.minuteFloor.micros
            guard minutes[minute] != nil || !bounded || !isFull, let total = (minutes[minute] ?? .zero).adding(amount)
            else {
                return false
            }
            minutes[minute] = total
            return true
        }
        guard let phase = loadedPhases.first(where: { $0.period.contains(time) }) else { return true }
        guard let total = loaded.usage(in: phase).adding(amount) else { return false }
        loaded.amounts[phase] = total
        return true
    }

    /// The value at `instant` (a whole minute at or after `base`; nil before it).
    public func value(at instant: Timestamp) throws(BalanceError) -> MeteredValue? {
        guard instant >= base else { return nil }
        var usage = PhaseUsages([:])
        for phase in try balance.phases(to: instant) {
            var total = Amount.zero
            if phase.period.from < base {
                // A phase of the loaded calculation, or the last one grown past `base`.
                let loadedPhase = UsagePhase(
                    period: TimePeriod(from: phase.period.from, to: min(phase.period.to, base)),
                    periodStart: phase.periodStart)
                total = loaded.usage(in: loadedPhase)
            }
            for (minute, amount) in phase.period.to > base ? minutes : [:]
            where minute >= max(phase.period.from, base).micros && minute < phase.period.to.micros {
                guard let sum = total.adding(amount) else { throw .overflow }
                total = sum
            }
            usage.amounts[phase] = total
        }
        return try balance.value(at: instant, usage: usage)
    }
}
