import Synchronization
import Testing
import TallyCore
@testable import TallyStore

@Suite struct GroupCommitterTests {
    /// A gate the apply closure waits on, so the test controls when the "transaction" ends.
    final class Gate: Sendable {
        private let opened = Mutex(false)
        func open() { opened.withLock { $0 = true } }
        func wait() async {
            while !opened.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(2)) }
        }
    }

    @Test func fullQueueRefusesInsteadOfGrowing() async throws {
        let committer = GroupCommitter<[CloudEvent]>(maxBatchesPerCommit: 8, maxQueuedBatches: 1)
        let gate = Gate()
        let committed = Mutex<[Int]>([])
        let apply: GroupCommitter<[CloudEvent]>.Apply = { batches in
            await gate.wait()
            committed.withLock { $0.append(batches.count) }
        }
        let one = [event("e", time: "2024-01-01T00:00:00Z", data: "{}")]
        let first = Task { try await committer.submit(one, apply: apply) }
        let second = Task { try? await committer.submit(one, apply: apply) }
        try await Task.sleep(for: .milliseconds(50))
        await #expect(throws: StoreError.overloaded) { try await committer.submit(one, apply: apply) }
        gate.open()
        try await first.value
        await second.value
        #expect(committed.withLock { $0.reduce(0, +) } >= 1)
    }

    @Test func waitingBatchesCommitTogether() async throws {
        let committer = GroupCommitter<[CloudEvent]>(maxBatchesPerCommit: 3, maxQueuedBatches: 100)
        let gate = Gate()
        let groups = Mutex<[Int]>([])
        let apply: GroupCommitter<[CloudEvent]>.Apply = { batches in
            await gate.wait()
            groups.withLock { $0.append(batches.count) }
        }
        let one = [event("e", time: "2024-01-01T00:00:00Z", data: "{}")]
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<7 { tasks.addTask { try await committer.submit(one, apply: apply) } }
            try await Task.sleep(for: .milliseconds(50))
            gate.open()
            try await tasks.waitForAll()
        }
        let sizes = groups.withLock { $0 }
        #expect(sizes.reduce(0, +) == 7)
        #expect(sizes.allSatisfy { $0 <= 3 })
        #expect(sizes.count < 7)
    }
}
