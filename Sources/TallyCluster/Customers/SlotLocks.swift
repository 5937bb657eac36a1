import Synchronization

/// One asynchronous lock per slot, taken by the coordinator around a per-customer write and the copy of the slot's
/// customer state to its replicas (so copies land in the order the writes committed), and by a move around the
/// switch-over of the slots it moves (so no write is under way while their state changes hands). Waiters are
/// served in arrival order; decisions are made under the mutex, continuations resumed outside it.
final class SlotLocks: Sendable {
    /// Locked slots → the continuations waiting for each.
    private let state = Mutex<[Int: [CheckedContinuation<Void, Never>]]>([:])

    func lock(_ slot: Int) async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { locked -> Bool in
                guard let waiting = locked[slot] else {
                    locked[slot] = []
                    return true
                }
                locked[slot] = waiting + [waiter]
                return false
            }
            if acquired { waiter.resume() }
        }
    }

    func unlock(_ slot: Int) {
        let next = state.withLock { locked -> CheckedContinuation<Void, Never>? in
            guard var waiting = locked[slot], !waiting.isEmpty else {
                locked[slot] = nil
                return nil
            }
            let first = waiting.removeFirst()
            locked[slot] = waiting
            return first
        }
        next?.resume()
    }

    /// Runs `body` holding the locks of `slots` (taken in ascending order, so two holders of several never deadlock).
    func withLocks<T>(_ slots: Set<Int>, _ body: () async throws -> T) async rethrows -> T {
        let ordered = slots.sorted()
        for slot in ordered { await lock(slot) }
        defer { for slot in ordered { unlock(slot) } }
        return try await body()
    }
}
