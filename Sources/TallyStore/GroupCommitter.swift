import Synchronization

/// Group commit: batches submitted while a transaction is running wait and are then committed
/// together, up to `maxBatchesPerCommit` per transaction. Each submitter resumes only after the
/// transaction holding its batch has committed (or failed, in which case none of it was stored).
final class GroupCommitter<Batch: Sendable>: Sendable {
    typealias Apply = @Sendable ([Batch]) async throws -> Void

    private struct Pending {
        var batch: Batch
        var continuation: CheckedContinuation<Void, any Error>
    }

    private enum Decision { case queued, startFlushing, refused }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
    }

    let maxBatchesPerCommit: Int
    let maxQueuedBatches: Int
    private let state = Mutex(State())

    init(maxBatchesPerCommit: Int, maxQueuedBatches: Int) {
        self.maxBatchesPerCommit = max(1, maxBatchesPerCommit)
        self.maxQueuedBatches = max(1, maxQueuedBatches)
    }

    /// Batches waiting for a transaction (not counting the one running).
    var queuedCount: Int { state.withLock { $0.pending.count } }

    /// Queues `batch` and returns once it is committed. Throws `StoreError.overloaded` at once,
    /// storing nothing, when `maxQueuedBatches` batches are already waiting.
    func submit(_ batch: Batch, apply: @escaping Apply) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let decision = state.withLock { state -> Decision in
                guard state.pending.count < maxQueuedBatches else { return .refused }
                state.pending.append(Pending(batch: batch, continuation: continuation))
                guard !state.flushing else { return .queued }
                state.flushing = true
                return .startFlushing
            }
            switch decision {
            case .refused: continuation.resume(throwing: StoreError.overloaded)
            case .startFlushing: Task { await self.drain(apply: apply) }
            case .queued: break
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
                try await apply(group.map(\.batch))
                for pending in group { pending.continuation.resume() }
            } catch {
                for pending in group { pending.continuation.resume(throwing: error) }
            }
        }
    }
}
