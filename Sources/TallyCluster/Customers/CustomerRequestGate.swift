import Synchronization

/// Keeps a worker's per-customer requests (the public entitlement and customer routes the coordinator relays) and
/// its slot table changes apart: a new assignment is applied only once every such request admitted at the old
/// epoch has finished, none is admitted meanwhile, and assignments are applied one at a time. So a write admitted
/// before a slot moves has committed before the move copies the slot's customer state, none lands on a worker that
/// gave the slot up, and two pushes of one assignment never promote the same replicas at once.
final class CustomerRequestGate: Sendable {
    /// Longest wait of an assignment for the requests in flight (and an assignment being applied) to finish, in
    /// milliseconds: below the coordinator's default `forwardTimeoutMs`, so the coordinator hears the refusal.
    static let maxDrainWaitMs = 5_000
    /// How often an assignment looks again whether it may be applied, in milliseconds.
    static let drainPollMs = 2

    /// Requests in flight, assignments waiting or being applied (while any, no request is admitted), and whether one
    /// is being applied.
    private let state = Mutex((inFlight: 0, closers: 0, applying: false))

    /// Admits a request; false while an assignment waits or is being applied.
    func enter() -> Bool {
        state.withLock { state in
            guard state.closers == 0 else { return false }
            state.inFlight += 1
            return true
        }
    }

    func leave() { state.withLock { $0.inFlight -= 1 } }

    /// Runs `body` once no request is in flight and no other assignment is being applied, admitting no request until
    /// it returns; throws `CustomerRequestGateError.requestsInFlight` when that does not happen within
    /// `maxDrainWaitMs`.
    func closed<T>(_ body: () async throws -> T) async throws -> T {
        state.withLock { $0.closers += 1 }
        defer { state.withLock { $0.closers -= 1 } }
        let deadline = ContinuousClock.now + .milliseconds(Self.maxDrainWaitMs)
        while true {
            let started = state.withLock { state -> Bool in
                guard state.inFlight == 0, !state.applying else { return false }
                state.applying = true
                return true
            }
            if started { break }
            guard ContinuousClock.now < deadline else { throw CustomerRequestGateError.requestsInFlight }
            try await Task.sleep(for: .milliseconds(Self.drainPollMs))
        }
        defer { state.withLock { $0.applying = false } }
        return try await body()
    }
}

/// Why an assignment could not be applied yet.
enum CustomerRequestGateError: Error, Sendable, Hashable {
    /// Per-customer requests (or another assignment) still ran after `CustomerRequestGate.maxDrainWaitMs`.
    case requestsInFlight
}
