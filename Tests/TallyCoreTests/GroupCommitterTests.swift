import Synchronization
import Testing

@testable import TallyCore

@Suite struct GroupCommitterTests {
    /// A gate the apply closure waits on, so the test controls when the "transaction" ends.
    final class Gate: Sendable {
        private let opened = Mutex(false)
        private let waiting = Mutex(0)
        func open() { opened.withLock { $0 = true } }
        func wait() async {
            waiting.withLock { $0 += 1 }
            while !opened.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(2)) }
        }
        var waiters: Int { waiting.withLock { $0 } }
    }

    /// Polls until `condition` holds (a bounded number of times, so a bug fails instead of hanging).
    func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<5_000 where !condition() { try await Task.sleep(for: .milliseconds(2)) }
        #expect(condition())
    }

    @Test func fullQueueRefusesInsteadOfGrowing() async throws {
        let committer = GroupCommitter<[String]>(maxBatchesPerCommit: 8, maxQueuedBatches: 1)
        let gate = Gate()
        let committed = Mutex<[Int]>([])
        let apply: GroupCommitter<[String]>.Apply = { batches in
            await gate.wait()
            committed.withLock { $0.append(batches.count) }
        }
        let one = ["e"]
        let first = Task { try await committer.submit(one, apply: apply) }
        try await eventually { gate.waiters == 1 }
        let second = Task { try await committer.submit(one, apply: apply) }
        try await eventually { committer.queuedCount == 1 }
        await #expect(throws: GroupCommitterError.queueFull(limit: 1)) { try await committer.submit(one, apply: apply) }
        gate.open()
        try await first.value
        try await second.value
        #expect(committed.withLock { $0 } == [1, 1])
    }

    @Test func waitingBatchesCommitTogether() async throws {
        let committer = GroupCommitter<[String]>(maxBatchesPerCommit: 3, maxQueuedBatches: 100)
        let gate = Gate()
        let groups = Mutex<[Int]>([])
        let apply: GroupCommitter<[String]>.Apply = { batches in
            groups.withLock { $0.append(batches.count) }
            await gate.wait()
        }
        let one = ["e"]
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<7 { tasks.addTask { try await committer.submit(one, apply: apply) } }
            try await eventually {
                gate.waiters == 1 && committer.queuedCount + (groups.withLock { $0.first } ?? 0) == 7
            }
            gate.open()
            try await tasks.waitForAll()
        }
        let sizes = groups.withLock { $0 }
        #expect(sizes.reduce(0, +) == 7)
        #expect(sizes.allSatisfy { $0 <= 3 })
        #expect(sizes.count == 3)
    }

    @Test func commitsStayUnderTheByteLimitAndRunConcurrentlyUpToTheLimit() async throws {
        let committer = GroupCommitter<String>(
            maxBatchesPerCommit: 100, maxQueuedBatches: 100, maxBytesPerCommit: 10, maxInFlight: 2,
            bytes: { $0.utf8.count })
        let gate = Gate()
        let groups = Mutex<[[String]]>([])
        let apply: GroupCommitter<String>.Apply = { batches in
            await gate.wait()
            groups.withLock { $0.append(batches) }
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await committer.submit("first", apply: apply) }
            try await eventually { gate.waiters == 1 }
            tasks.addTask { try await committer.submit("second", apply: apply) }
            try await eventually { gate.waiters == 2 }
            for text in ["aaaa", "bbbb", "cccc", "twelve bytes"] {
                tasks.addTask { try await committer.submit(text, apply: apply) }
                try await eventually { committer.queuedCount > 0 && gate.waiters == 2 }
            }
            try await eventually { committer.queuedCount == 4 }
            gate.open()
            try await tasks.waitForAll()
        }
        let sizes = groups.withLock { $0 }.map { $0.joined().utf8.count }
        #expect(sizes.count == 5)
        #expect(sizes.filter { $0 > 10 } == [12])
        #expect(groups.withLock { $0 }.flatMap { $0 }.count == 6)
    }
}
