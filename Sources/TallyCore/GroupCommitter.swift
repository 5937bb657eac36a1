import Synchronization

/// Group commit: batches submitted while a commit is running wait and are then committed together,
/// up to `maxBatchesPerCommit` batches and `maxBytesPerCommit` bytes (by `bytes`; a single batch always
/// goes) per commit, with at most `maxInFlight` commits running at once. Each submitter resumes only
/// after the commit holding its batch succeeded (or failed, in which case none of it was stored).
/// The shard store commits SQLite transactions with it; the coordinator, requests to one worker.
public final class GroupCommitter<Batch: Sendable>: Sendable {
    public typealias Apply = @Sendable ([Batch]) async throws -> Void

    private struct Pending {
        var batch: Batch
        var bytes: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private enum Decision { case queued, startCommitting, refused }

    private struct State {
        var pending: [Pending] = []
        var running = 0
    }

    let maxBatchesPerCommit: Int
    let maxQueuedBatches: Int
    let maxBytesPerCommit: Int
    let maxInFlight: Int
    private let bytes: @Sendable (Batch) -> Int
    private let state = Mutex(State())

    public init(
        maxBatchesPerCommit: Int, maxQueuedBatches: Int, maxBytesPerCommit: Int = .max, maxInFlight: Int = 1,
        bytes: @escaping @Sendable (Batch) -> Int = { _ in 0 }
    ) {
        self.maxBatchesPerCommit = max(1, maxBatchesPerCommit)
        self.maxQueuedBatches = max(1, maxQueuedBatches)
        self.maxBytesPerCommit = maxBytesPerCommit
        self.maxInFlight = max(1, maxInFlight)
        self.bytes = bytes
    }

    /// Batches waiting for a commit (not counting those running).
    var queuedCount: Int { state.withLock { $0.pending.count } }

    /// Queues `batch` and returns once it is committed. Throws `GroupCommitterError.queueFull` at once,
    /// committing nothing, when `maxQueuedBatches` batches are already waiting.
    public func submit(_ batch: Batch, apply: @escaping Apply) async throws {
        let size = bytes(batch)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let decision = state.withLock { state -> Decision in
                guard state.pending.count < maxQueuedBatches else { return .refused }
                state.pending.append(Pending(batch: batch, bytes: size, continuation: continuation))
                guard state.running < maxInFlight else { return .queued }
                state.running += 1
                return .startCommitting
            }
            switch decision {
            case .refused: continuation.resume(throwing: GroupCommitterError.queueFull(limit: maxQueuedBatches))
            case .startCommitting: Task { await self.drain(apply: apply) }
            case .queued: break
            }
        }
    }

    private func drain(apply: Apply) async {
        while true {
            let group = state.withLock { state -> [Pending] in
                var total = 0
                var count = 0
                for pending in state.pending.prefix(maxBatchesPerCommit) {
                    guard count == 0 || total + pending.bytes <= maxBytesPerCommit else { break }
                    total += pending.bytes
                    count += 1
                }
                let taken = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                if taken.isEmpty { state.running -= 1 }
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

/// Why a group committer refused a batch.
public enum GroupCommitterError: Error, Sendable, Equatable {
    /// `limit` batches were already waiting; the batch was not queued and nothing of it was applied.
    case queueFull(limit: Int)
}
