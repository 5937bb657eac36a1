import Synchronization
import TallyCore

/// Per-minute partials of committed events that are not yet merged into `minute_agg`.
///
/// Ingestion writes only raw events and de-dup entries in its transaction and hands the partials of
/// the new events here after the commit. A flush merges everything pending into `minute_agg` in one
/// transaction that also advances the durable checkpoint (`aggregation_state.through_seq`), so many
/// events collapse into one upsert per (meter, minute, subject, group). Queries add the pending
/// partials the checkpoint does not cover yet; after a crash the store replays raw events past the
/// checkpoint. The answer is the same either way; only the cost moves.
final class PendingAggregates: Sendable {
    /// A set of partials covering every committed event up to `throughSeq`.
    struct Part: Sendable {
        var buffer = AggregateBuffer()
        var throughSeq: Int64
    }

    private struct State {
        var current: Part
        /// The part a running flush transaction is writing, if any.
        var flushing: Part?
        var lastFlush = ContinuousClock.now
        var flushScheduled = false

        var keyCount: Int { current.buffer.count + (flushing?.buffer.count ?? 0) }
    }

    private let state: Mutex<State>
    /// Pending keys that trigger a flush at once.
    let maxPendingKeys: Int
    /// Longest time partials stay pending while events keep arriving.
    let flushInterval: Duration

    init(throughSeq: Int64, maxPendingKeys: Int, flushInterval: Duration) {
        state = Mutex(State(current: Part(throughSeq: throughSeq)))
        self.maxPendingKeys = maxPendingKeys
        self.flushInterval = flushInterval
    }

    /// Adds the partials of a committed transaction whose events end at `throughSeq`.
    func add(_ buffer: AggregateBuffer, throughSeq: Int64) {
        state.withLock { state in
            state.current.buffer.merge(buffer)
            state.current.throughSeq = max(state.current.throughSeq, throughSeq)
        }
    }

    /// Drops every pending partial of one meter (its aggregates are being rebuilt from raw events).
    func removeMeter(_ meterID: String) {
        state.withLock { $0.current.buffer.removeMeter(meterID) }
    }

    /// Keys pending in memory: the current part and the one a flush is writing.
    var keyCount: Int { state.withLock { $0.keyCount } }

    /// Whether a flush is due; marks it scheduled so only one caller starts it.
    func claimFlush() -> Bool {
        state.withLock { state in
            let keys = state.current.buffer.count
            guard !state.flushScheduled, keys > 0,
                keys >= maxPendingKeys || ContinuousClock.now - state.lastFlush >= flushInterval
            else { return false }
            state.flushScheduled = true
            return true
        }
    }

    /// Moves the current part to `flushing` and returns it; call inside the flush's write transaction.
    func beginFlush() -> Part? {
        state.withLock { state in
            state.flushScheduled = false
            guard !state.current.buffer.isEmpty else { return nil }
            let part = state.current
            state.flushing = part
            state.current = Part(throughSeq: part.throughSeq)
            return part
        }
    }

    /// The flush committed: its part is in `minute_agg` now.
    func endFlush() {
        state.withLock { state in
            state.flushing = nil
            state.lastFlush = ContinuousClock.now
        }
    }

    /// The flush rolled back: its partials are pending again.
    func abortFlush() {
        state.withLock { state in
            guard let part = state.flushing else { return }
            state.flushing = nil
            state.current.buffer.merge(part.buffer)
            state.current.throughSeq = max(state.current.throughSeq, part.throughSeq)
        }
    }

    /// Copies of the pending parts restricted to one meter (and to some customers, when `subjects` is given), oldest
    /// first: a query for one customer copies only that customer's partials.
    func parts(meterID: String, subjects: Set<Identifier>? = nil) -> [Part] {
        state.withLock { state in
            [state.flushing, state.current].compactMap { part in
                part.map {
                    Part(buffer: $0.buffer.only(meterID: meterID, subjects: subjects), throughSeq: $0.throughSeq)
                }
            }
        }
    }
}
