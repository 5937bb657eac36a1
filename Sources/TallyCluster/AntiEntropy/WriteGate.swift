import Synchronization

/// Holds writes to some slots and tells when every write already under way has ended, so that the copies of those
/// slots can be compared at rest: a write enters with the slots it touches (refused while one of them is held) and
/// leaves once every holder answered; a hold is quiet once every write that entered before it has left. Decides under
/// its lock; the waiting is the caller's.
final class WriteGate: Sendable {
    private struct State {
        var generation = 0
        /// Writes under way, by the generation they entered in.
        var inFlight: [Int: Int] = [:]
        var held: Set<Int> = []
    }

    private let state = Mutex(State())

    /// Registers a write to `slots`: its ticket for `leave`, or nil while one of them is held.
    func enter(_ slots: Set<Int>) -> Int? {
        state.withLock { state in
            guard state.held.isDisjoint(with: slots) else { return nil }
            state.inFlight[state.generation, default: 0] += 1
            return state.generation
        }
    }

    /// Ends the write that entered with `ticket`.
    func leave(_ ticket: Int) {
        state.withLock { state in
            let left = state.inFlight[ticket, default: 1] - 1
            state.inFlight[ticket] = left > 0 ? left : nil
        }
    }

    /// Holds writes to `slots` until `release`; the hold's generation, for `isQuiet(since:)`.
    func hold(_ slots: Set<Int>) -> Int {
        state.withLock { state in
            state.held = slots
            state.generation += 1
            return state.generation
        }
    }

    /// Whether every write that entered before the hold of `generation` has left.
    func isQuiet(since generation: Int) -> Bool {
        state.withLock { $0.inFlight.keys.allSatisfy { $0 >= generation } }
    }

    /// Lets writes to the held slots in again.
    func release() { state.withLock { $0.held = [] } }
}
