import Synchronization
import TallyCore

/// Per-minute partials of committed events that are not yet merged into the aggregate tables.
///
/// Ingestion writes only raw events and de-dup entries in its transaction and hands the partials of
/// the new events here after the commit. A flush merges everything pending into the aggregate tables in one
/// transaction that also advances the durable checkpoint (`aggregation_state.through_seq`), so many
/// events collapse into one upsert per bucket. Queries add the pending
/// partials the checkpoint does not cover yet; after a crash the store replays raw events past the
/// checkpoint. The answer is the same either way; only the cost moves.
final class PendingAggregates: Sendable {
    /// A set of partials covering every committed event up to `throughSeq`.
    struct Part: Sendable {
        var buffer = AggregateBuffer()
        var throughSeq: Int64
    }

    /// Partials as committed: one buffer per batch, built on the request's thread and merged only by a flush or a
    /// query, so the single writer spends no time merging them.
    struct Pile: Sendable {
        var buffers: [AggregateBuffer] = []
        var keyCount = 0
        var throughSeq: Int64

        mutating func append(_ buffer: AggregateBuffer) {
            guard !buffer.isEmpty else { return }
            buffers.append(buffer)
            keyCount += buffer.count
        }

        /// The pile's buffers merged into one; call outside the lock.
        var merged: Part {
            var part = Part(throughSeq: throughSeq)
            for buffer in buffers { part.buffer.merge(buffer) }
            return part
        }
    }

    private struct State {
        var current: Pile
        /// The pile a running flush transaction is writing, if any.
        var flushing: Pile?
        var lastFlush = ContinuousClock.now
        var flushScheduled = false
        /// Whether a delayed check is waiting to flush partials that arrived before ingestion went quiet.
        var timerArmed = false

        /// Keys pending, counted per batch (a key in several batches counts several times).
        var keyCount: Int { current.keyCount + (flushing?.keyCount ?? 0) }
    }

    private let state: Mutex<State>
    /// Pending keys that trigger a flush at once.
    let maxPendingKeys: Int
    /// Longest time partials stay pending while events keep arriving.
    let flushInterval: Duration

    init(throughSeq: Int64, maxPendingKeys: Int, flushInterval: Duration) {
        state = Mutex(State(current: Pile(throughSeq: throughSeq)))
        self.maxPendingKeys = maxPendingKeys
        self.flushInterval = flushInterval
    }

    /// Adds the partials of a committed transaction whose events end at `throughSeq`.
    func add(_ buffers: [AggregateBuffer], throughSeq: Int64) {
        state.withLock { state in
            for buffer in buffers { state.current.append(buffer) }
            state.current.throughSeq = max(state.current.throughSeq, throughSeq)
        }
    }

    /// Drops every pending partial of one meter (its aggregates are being rebuilt from raw events).
    func removeMeter(_ meterID: String) {
        state.withLock { state in
            var pile = Pile(throughSeq: state.current.throughSeq)
            for var buffer in state.current.buffers {
                buffer.removeMeter(meterID)
                pile.append(buffer)
            }
            state.current = pile
        }
    }

    /// Keys pending in memory: the current pile and the one a flush is writing.
    var keyCount: Int { state.withLock { $0.keyCount } }

    /// Whether a flush is due; marks it scheduled so only one caller starts it.
    func claimFlush() -> Bool {
        state.withLock { state in
            let keys = state.current.keyCount
            guard !state.flushScheduled, keys > 0,
                keys >= maxPendingKeys || ContinuousClock.now - state.lastFlush >= flushInterval
            else { return false }
            state.flushScheduled = true
            return true
        }
    }

    /// When partials are pending but no flush is due yet and no check is waiting, arms one and returns how long it
    /// should wait: partials are flushed within `flushInterval` even when no further batch arrives.
    func armTimer() -> Duration? {
        state.withLock { state in
            guard !state.timerArmed, !state.flushScheduled, state.current.keyCount > 0 else { return nil }
            state.timerArmed = true
            return max(.zero, flushInterval - (ContinuousClock.now - state.lastFlush))
        }
    }

    /// The delayed check has run.
    func disarmTimer() {
        state.withLock { $0.timerArmed = false }
    }

    /// Moves the current pile to `flushing` and returns it; call inside the flush's write transaction and merge it
    /// (`Pile.merged`) there, outside the lock.
    func beginFlush() -> Pile? {
        state.withLock { state in
            state.flushScheduled = false
            guard !state.current.buffers.isEmpty else { return nil }
            let pile = state.current
            state.flushing = pile
            state.current = Pile(throughSeq: pile.throughSeq)
            return pile
        }
    }

    /// The flush committed: its part is in the aggregate tables now.
    func endFlush() {
        state.withLock { state in
            state.flushing = nil
            state.lastFlush = ContinuousClock.now
        }
    }

    /// The flush rolled back: its partials are pending again.
    func abortFlush() {
        state.withLock { state in
            guard let pile = state.flushing else { return }
            state.flushing = nil
            var restored = Pile(throughSeq: max(state.current.throughSeq, pile.throughSeq))
            for buffer in pile.buffers + state.current.buffers { restored.append(buffer) }
            state.current = restored
        }
    }

    /// The pending partials of one meter (of some customers only, when `subjects` is given), one part per pile,
    /// oldest first; the piles are copied under the lock and filtered outside it.
    func parts(meterID: String, subjects: Set<Identifier>? = nil) -> [Part] {
        let piles = state.withLock { state in [state.flushing, state.current].compactMap { $0 } }
        return piles.map { pile in
            var part = Part(throughSeq: pile.throughSeq)
            for buffer in pile.buffers { part.buffer.merge(buffer.only(meterID: meterID, subjects: subjects)) }
            return part
        }
    }
}
