import Synchronization
import TallyCore

/// Group commit: batches submitted while a transaction is running wait and are then committed
/// together, up to `maxBatchesPerCommit` per transaction. Each submitter resumes only after the
/// transaction holding its batch has committed (or failed, in which case none of it was stored).
final class GroupCommitter: Sendable {
    typealias Apply = @Sendable ([[CloudEvent]]) async throws -> Void

    private struct Pending {
        var events: [CloudEvent]
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
    }

    let maxBatchesPerCommit: Int
    private let state = Mutex(State())

    init(maxBatchesPerCommit: Int) {
        self.maxBatchesPerCommit = max(1, maxBatchesPerCommit)
    }

    /// Queues `events` and returns once they are committed.
    func submit(_ events: [CloudEvent], apply: @escaping Apply) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startFlushing = state.withLock { state -> Bool in
                state.pending.append(Pending(events: events, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if startFlushing {
                Task { await self.drain(apply: apply) }
            }
        }
    }

    private func drain(apply: Apply) async {
        while true {
            let group = state.withLock { state -> [Pending] in
                let taken = Array(state.pending.prefix(maxBatchesPerCommit))
                state.pending.removeFirst(taken.count)
                if taken.isEmpty { state.flushing = false }
                return taken
            }
            guard !group.isEmpty else { return }
            do {
                try await apply(group.map(\.events))
                for pending in group { pending.continuation.resume() }
            } catch {
                for pending in group { pending.continuation.resume(throwing: error) }
            }
        }
    }
}
