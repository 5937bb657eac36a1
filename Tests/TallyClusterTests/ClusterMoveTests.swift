import AsyncHTTPClient
import Foundation
import Synchronization
import TallyCluster
import TallyCore
import TallyTestSupport
import Testing

/// Adding a worker online: the coordinator plans the move, the new worker pulls its slots from the others over
/// mutual TLS while events keep flowing, the epoch flips, the sources drop what they gave up — and every
/// acknowledged event is counted exactly once, before, during and after the move, also when the coordinator is
/// killed in the middle of it.
@Suite struct ClusterMoveTests {
    static let customers = (0..<300).map { "customer-\($0)" }
    static let meters = [
        #"{"slug":"calls","aggregation":"COUNT","eventType":"usage"}"#,
        #"{"slug":"tokens","aggregation":"SUM","eventType":"usage","valueProperty":"$.tokens"}"#,
    ]

    /// What the clients were told was stored, per customer: events and the sum of their tokens.
    final class Acknowledged: Sendable {
        private let tallies = Mutex<[String: (count: Int, tokens: Int)]>([:])
        private let refusals = Mutex<[String]>([])

        func record(_ events: [(subject: String, tokens: Int)]) {
            tallies.withLock { all in
                for event in events {
                    all[event.subject, default: (0, 0)].count += 1
                    all[event.subject, default: (0, 0)].tokens += event.tokens
                }
            }
        }

        func refuse(_ reason: String) { refusals.withLock { $0.append(reason) } }

        /// Adds what `other` recorded.
        func add(_ other: Acknowledged) {
            let more = other.byCustomer
            tallies.withLock { all in
                for (subject, tally) in more {
                    all[subject, default: (0, 0)].count += tally.count
                    all[subject, default: (0, 0)].tokens += tally.tokens
                }
            }
        }

        var byCustomer: [String: (count: Int, tokens: Int)] { tallies.withLock { $0 } }
        var total: Int { tallies.withLock { $0.values.reduce(0) { $0 + $1.count } } }
        var refused: [String] { refusals.withLock { $0 } }
    }

    /// Set once the load of a test should stop.
    final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        func stop() { flag.store(true, ordering: .relaxed) }
        var stopped: Bool { flag.load(ordering: .relaxed) }
    }

    /// Sends one batch of `size` events named `prefix-i`; records it when the answer is 204.
    static func send(
        _ cluster: ClusterProcesses, prefix: String, size: Int, offset: Int, into acknowledged: Acknowledged
    ) async throws {
        try await send(cluster.coordinator.baseURL, prefix: prefix, size: size, offset: offset, into: acknowledged)
    }

    /// Sends one batch to the coordinator at `baseURL`.
    static func send(
        _ baseURL: String, prefix: String, size: Int, offset: Int, into acknowledged: Acknowledged
    ) async throws {
        var events: [(subject: String, tokens: Int)] = []
        var texts: [String] = []
        for index in 0..<size {
            let subject = customers[(offset + index * 7) % customers.count]
            let tokens = (offset + index) % 9 + 1
            events.append((subject, tokens))
            texts.append(
                #"{"specversion":"1.0","id":"\#(prefix)-\#(index)","source":"test","type":"usage","#
                    + #""subject":"\#(subject)","time":"2026-03-02T12:00:00Z","data":{"tokens":\#(tokens)}}"#)
        }
        let reply = try await TestHTTP.send(
            .POST, baseURL + "/api/v1/events", body: "[" + texts.joined(separator: ",") + "]",
            contentType: "application/cloudevents-batch+json")
        if reply.status == 204 {
            acknowledged.record(events)
        } else {
            acknowledged.refuse("\(reply.status): \(reply.body)")
        }
    }

    /// Sends batches `during-N` of 50 events one after the other (each once; refusals are recorded) until `stop`; the
    /// batches sent.
    static func load(_ baseURL: String, into acknowledged: Acknowledged, until stop: StopFlag) -> Task<Int, any Error> {
        Task {
            var batch = 0
            while !stop.stopped {
                try await send(baseURL, prefix: "during-\(batch)", size: 50, offset: batch, into: acknowledged)
                batch += 1
            }
            return batch
        }
    }

    /// Waits until `GET /api/v1/cluster` shows no move, and returns that status.
    static func waitForMoveDone(_ cluster: ClusterProcesses) async throws -> JSONValue {
        let deadline = Date().addingTimeInterval(480)
        while Date() < deadline {
            let status = try #require(try await cluster.api(.GET, "/api/v1/cluster").json)
            if status["move"] == .null { return status }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NodeProcess.StartFailure(description: "the move did not finish within 480 s")
    }

    /// Waits until `GET /api/v1/cluster` shows no move and nothing settling, every slot with `copies - 1` replicas,
    /// every worker up (but lost ones) and, `atRest` (no load running), the replica stores holding `copies - 1` times
    /// what the primary stores hold, all unchanged for 1.5 s: the repairs that give an added or returning worker its
    /// share of replicas, and the drops of the replicas they replace, are done; that status.
    static func waitForSettled(
        _ cluster: ClusterProcesses, copies: Int = 2, atRest: Bool = true
    ) async throws -> JSONValue {
        var stableSince: (status: JSONValue, at: Date)?
        return try await ReplicationTests.status(of: cluster, within: 480) { status in
            let workers = status["workers"]?.arrayValue ?? []
            // A lost worker holds nothing (or is down, its last probe's numbers stale).
            func total(_ key: String) -> Int {
                workers.filter { $0["lost"] != .bool(true) }.compactMap { worker -> Int? in
                    if case .number(let text)? = worker[key] { Int(text) } else { nil }
                }.reduce(0, +)
            }
            guard status["move"] == .null, status["settling"] == .bool(false), total("replicas") == 1024 * (copies - 1),
                !atRest || total("replicaEventsStored") == total("eventsStored") * (copies - 1),
                workers.allSatisfy({ $0["state"] == .string("up") || $0["lost"] == .bool(true) })
            else {
                stableSince = nil
                return false
            }
            var steady = status
            if case .object(var members) = status {
                // Probes refresh these every round (the stored events under load too); the rest must not change.
                members["workers"] = .array(
                    workers.map { worker in
                        guard case .object(var fields) = worker else { return worker }
                        fields["checkedAt"] = nil
                        if !atRest {
                            fields["eventsStored"] = nil
                            fields["replicaEventsStored"] = nil
                        }
                        return .object(fields)
                    })
                members["antiEntropy"] = nil
                steady = .object(members)
            }
            if stableSince?.status != steady { stableSince = (steady, Date()) }
            return Date().timeIntervalSince(stableSince?.at ?? Date()) >= 1.5
        }
    }

    /// Every customer's COUNT and SUM through the coordinator equal what was acknowledged; the workers' primary
    /// stores hold exactly the acknowledged events, none twice, and their replica stores `copies - 1` times that; and
    /// every slot holding events has `copies` copies with equal digests (no stale copy left anywhere). Waits until the
    /// cluster has settled first (`waitForSettled`).
    static func expectExact(_ cluster: ClusterProcesses, _ acknowledged: Acknowledged, copies: Int = 2) async throws {
        _ = try await waitForSettled(cluster, copies: copies)
        let range = "from=2026-03-01T00:00:00Z&to=2026-03-05T00:00:00Z&groupBy=subject"
        var counted: [String: (count: Int, tokens: Int)] = [:]
        for slug in ["calls", "tokens"] {
            let reply = try await cluster.api(.GET, "/api/v1/meters/\(slug)/query?\(range)")
            #expect(reply.status == 200, "\(reply.body)")
            for row in reply.json?["data"]?.arrayValue ?? [] {
                guard let subject = row["subject"]?.stringValue, case .number(let text)? = row["value"],
                    let value = Int(text)
                else { continue }
                if slug == "calls" {
                    counted[subject, default: (0, 0)].count = value
                } else {
                    counted[subject, default: (0, 0)].tokens = value
                }
            }
        }
        let expected = acknowledged.byCustomer
        #expect(counted.count == expected.count)
        for (subject, tally) in expected {
            #expect(counted[subject]?.count == tally.count, "\(subject) events")
            #expect(counted[subject]?.tokens == tally.tokens, "\(subject) tokens")
        }
        #expect(try await cluster.storedEvents() == acknowledged.total)
        #expect(try await cluster.storedEvents(.replica) == acknowledged.total * (copies - 1))
        for (slot, found) in try await cluster.storedCopies() {
            #expect(found.count == copies, "slot \(slot): \(found)")
            #expect(Set(found.values).count == 1, "slot \(slot): \(found)")
        }
    }

    /// A cluster of two workers and `spares` spares (`clusterSettings` added to the coordinator's), the two meters, and
    /// `batches` batches of 100 events acknowledged before `body` runs; stopped afterwards whatever happens.
    static func withCluster(
        clusterSettings: [String] = [], spares: Int = 1, batches: Int,
        _ body: (ClusterProcesses, Acknowledged) async throws -> Void
    ) async throws {
        let cluster = try ClusterProcesses(workers: 2, spares: spares, clusterSettings: clusterSettings)
        do {
            try await cluster.waitReady()
            for meter in meters { #expect(try await cluster.api(.POST, "/api/v1/meters", meter).status == 201) }
            let acknowledged = Acknowledged()
            for batch in 0..<batches {
                try await send(cluster, prefix: "before-\(batch)", size: 100, offset: batch, into: acknowledged)
            }
            try await body(cluster, acknowledged)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    /// The events copied once the move's first pull is recorded (polled every 5 ms, at most 2,000 times).
    static func waitForFirstPull(_ cluster: ClusterProcesses) async throws -> Int64 {
        var copied: Int64 = 0
        for _ in 0..<2000 where copied == 0 {
            let move = try await cluster.api(.GET, "/api/v1/cluster").json?["move"]
            if case .number(let text)? = move?["events"] { copied = Int64(text) ?? 0 }
            if copied == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        return copied
    }

    @Test func addingAWorkerUnderLoadMovesItsSlotsWithEveryEventCountedOnce() async throws {
        try await Self.withCluster(batches: 30) { cluster, acknowledged in
            try cluster.startWorker("w3")
            let plan = SlotMovePlan.adding("w3", to: SlotPlanner.initial(workers: ["w1", "w2"]))

            let stop = StopFlag()
            let loader = Self.load(cluster.coordinator.baseURL, into: acknowledged, until: stop)
            let added = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w3","url":"\#(cluster.workerURL("w3"))"}"#)
            #expect(added.status == 202, "\(added.body)")
            #expect(added.json?["worker"] == .string("w3"))
            #expect(added.json?["kind"] == .string("add-worker"))
            #expect(added.json?["slots"] == .number(String(plan.movingSlots.count)))
            #expect(added.json?["epoch"] == .number("2"))

            // The move, then a repair giving w3 its share of replicas and the drop of those it replaced.
            let status = try await Self.waitForSettled(cluster, atRest: false)
            stop.stop()
            let batchesDuringMove = try await loader.value
            #expect(batchesDuringMove > 0)
            #expect(acknowledged.refused == [])
            for batch in 0..<10 {
                try await Self.send(cluster, prefix: "after-\(batch)", size: 100, offset: batch + 3, into: acknowledged)
            }

            #expect(status["epoch"] == .number("4"))
            let slots = (status["workers"]?.arrayValue ?? []).reduce(into: [String: JSONValue]()) {
                $0[$1["name"]?.stringValue ?? ""] = $1["slots"]
            }
            #expect(slots == plan.target.slotCounts.mapValues { .number(String($0)) })
            try await Self.expectExact(cluster, acknowledged)
            for name in ["w1", "w2", "w3"] {
                let assignment = try await cluster.worker(name, "/internal/v1/assignment")
                #expect(assignment.json?["epoch"] == .number("4"), "\(name)")
                if case .number(let text)? = assignment.json?["events"] { #expect(Int(text)! > 0, "\(name)") }
            }
            let subjects = try await cluster.api(.GET, "/api/v1/subjects?limit=1000")
            #expect(subjects.json?.arrayValue?.count == Self.customers.count)
        }
    }

    @Test func twoWorkersAddedOneAfterTheOtherUnderLoadCountEveryEventOnce() async throws {
        try await Self.withCluster(spares: 2, batches: 20) { cluster, acknowledged in
            let stop = StopFlag()
            let loader = Self.load(cluster.coordinator.baseURL, into: acknowledged, until: stop)
            var table = SlotPlanner.initial(workers: ["w1", "w2"])
            for worker in ["w3", "w4"] {
                try cluster.startWorker(worker)
                let added = try await cluster.api(
                    .POST, "/api/v1/cluster/workers", #"{"name":"\#(worker)","url":"\#(cluster.workerURL(worker))"}"#)
                #expect(added.status == 202, "\(added.body)")
                let status = try await Self.waitForSettled(cluster, atRest: false)
                table = SlotMovePlan.adding(worker, to: table).target
                let slots = (status["workers"]?.arrayValue ?? []).reduce(into: [String: JSONValue]()) {
                    $0[$1["name"]?.stringValue ?? ""] = $1["slots"]
                }
                #expect(slots == table.slotCounts.mapValues { .number(String($0)) })
            }
            stop.stop()
            #expect(try await loader.value > 0)
            #expect(acknowledged.refused == [])
            // 1,024 slots over four workers: 256 each.
            #expect(Set(table.slotCounts.values) == [256])
            try await Self.expectExact(cluster, acknowledged)
        }
    }

    @Test func aMoveResumesAfterTheCoordinatorIsKilledAndRefusesWhatItMust() async throws {
        // Chunks of 1 event: the copy takes hundreds of pulls, so the coordinator dies in the middle of the move.
        try await Self.withCluster(clusterSettings: ["moveChunkEvents: 1"], batches: 20) { cluster, acknowledged in
            let invalid = try await cluster.api(.POST, "/api/v1/cluster/workers", #"{"name":"-w3"}"#)
            #expect(invalid.status == 400)
            #expect(invalid.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } == ["url"])
            let badName = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"-w3","url":"https://127.0.0.1:1"}"#)
            #expect(badName.status == 400)
            #expect(badName.json?["errors"]?.arrayValue?.first?["field"] == .string("name"))
            let taken = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w1","url":"https://127.0.0.1:1"}"#)
            #expect(taken.status == 409)
            #expect(taken.json?["type"] == .string("urn:tally:problem:worker-exists"))
            // A worker of the cluster, or a worker under another name, never becomes the joining one.
            let existing = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w9","url":"\#(cluster.workerURL("w1"))"}"#)
            #expect(existing.status == 409)
            #expect(existing.json?["type"] == .string("urn:tally:problem:url-taken"))
            try cluster.startWorker("w3")
            let misnamed = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w9","url":"\#(cluster.workerURL("w3"))"}"#)
            #expect(misnamed.status == 409)
            #expect(misnamed.json?["type"] == .string("urn:tally:problem:worker-unusable"))
            #expect(misnamed.json?["detail"] == .string("the worker at \(cluster.workerURL("w3")) is \"w3\", not w9"))

            let added = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w3","url":"\#(cluster.workerURL("w3"))"}"#)
            #expect(added.status == 202)
            let id = try #require(added.json?["id"]?.stringValue)
            let second = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w4","url":"https://127.0.0.1:1"}"#)
            #expect(second.status == 409)
            #expect(second.json?["type"] == .string("urn:tally:problem:move-in-progress"))
            #expect(second.json?["move"] == .string(id))
            #expect(try await Self.waitForFirstPull(cluster) > 0)

            try cluster.restartCoordinator()
            let resumed = try #require(try await cluster.api(.GET, "/api/v1/cluster").json)
            #expect(resumed["move"]?["id"] == .string(id))
            // Killed while copying (most runs) or already switching over: the epoch says which.
            let phase = resumed["move"]?["phase"]?.stringValue
            #expect(phase == "copying" || phase == "switching")
            #expect(resumed["epoch"] == .number(phase == "copying" ? "1" : "2"))
            try await Self.send(cluster, prefix: "copying", size: 100, offset: 5, into: acknowledged)

            let status = try await Self.waitForSettled(cluster)
            #expect(status["epoch"] == .number("4"))
            try await Self.send(cluster, prefix: "after", size: 100, offset: 9, into: acknowledged)
            #expect(acknowledged.refused == [])
            try await Self.expectExact(cluster, acknowledged)

            // Slot chunks are served to any cluster node; pulls and deletes only to the coordinator.
            let peer = HTTPClient(
                eventLoopGroupProvider: .singleton,
                configuration: .init(tlsConfiguration: try ClusterTLS(authority: cluster.authority, node: "w2").client))
            let chunk = try await TestHTTP.send(
                .GET, cluster.workerURL("w1") + "/internal/v1/slots/chunk?slots=0,1&slotCount=1024&after=0",
                client: peer)
            #expect(chunk.status == 200)
            #expect(chunk.headers.first(name: "Tally-Slots") == "0,1")
            let pull = try await TestHTTP.send(
                .POST, cluster.workerURL("w1") + "/internal/v1/slots/delete", body: #"{"slots":[0],"slotCount":1024}"#,
                client: peer)
            #expect(pull.status == 403)
            try await peer.shutdown()
        }
    }

    @Test func aMoveSurvivesTheJoiningWorkerKilledInTheMiddleOfItsCopy() async throws {
        // Chunks of 2 events: the copy takes hundreds of pulls, so the kill lands in the middle of it.
        try await Self.withCluster(clusterSettings: ["moveChunkEvents: 2"], batches: 40) { cluster, acknowledged in
            try cluster.startWorker("w3")
            let added = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w3","url":"\#(cluster.workerURL("w3"))"}"#)
            #expect(added.status == 202)
            #expect(try await Self.waitForFirstPull(cluster) > 0)
            cluster.killWorker("w3")
            let midway = try #require(try await cluster.api(.GET, "/api/v1/cluster").json?["move"])
            #expect(midway["phase"] == .string("copying"))
            try await Self.send(cluster, prefix: "w3-down", size: 100, offset: 4, into: acknowledged)
            try cluster.startWorker("w3")
            _ = try await Self.waitForMoveDone(cluster)
            try await Self.send(cluster, prefix: "after", size: 100, offset: 8, into: acknowledged)
            #expect(acknowledged.refused == [])
            try await Self.expectExact(cluster, acknowledged)
        }
    }

    @Test func anAdditionWhoseWorkerDiedIsCancelledAndTheWorkerCanBeAddedAgainEmpty() async throws {
        try await Self.withCluster(clusterSettings: ["moveChunkEvents: 2"], batches: 30) { cluster, acknowledged in
            let unknown = try await cluster.api(.DELETE, "/api/v1/cluster/workers/w9")
            #expect(unknown.status == 404)
            #expect(unknown.json?["type"] == .string("urn:tally:problem:worker-not-found"))
            let command = try NodeProcess.run([
                "cluster", "drain-worker", "w9", "--coordinator", cluster.coordinator.baseURL,
            ])
            #expect(command.status != 0)
            #expect(
                command.error.contains("removing w9 failed (404): the cluster has no worker w9"), "\(command.error)")

            try cluster.startWorker("w3")
            let added = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w3","url":"\#(cluster.workerURL("w3"))"}"#)
            #expect(added.status == 202)
            let id = try #require(added.json?["id"]?.stringValue)
            #expect(try await Self.waitForFirstPull(cluster) > 0)
            cluster.killWorker("w3")
            let cancelled = try await cluster.api(.DELETE, "/api/v1/cluster/workers/w3")
            #expect(cancelled.status == 200, "\(cancelled.body)")
            #expect(cancelled.json?["id"] == .string(id))
            #expect(cancelled.json?["phase"] == .string("cancelled"))
            let status = try #require(try await cluster.api(.GET, "/api/v1/cluster").json)
            #expect(status["move"] == .null)
            #expect(status["epoch"] == .number("1"))
            #expect(status["workers"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["w1", "w2"])
            try await Self.send(cluster, prefix: "cancelled", size: 100, offset: 4, into: acknowledged)
            #expect(acknowledged.refused == [])
            try await Self.expectExact(cluster, acknowledged)

            // The abandoned copy stays on w3's disk: it must start empty to join again.
            try cluster.wipeWorker("w3")
            try cluster.startWorker("w3")
            let again = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w3","url":"\#(cluster.workerURL("w3"))"}"#)
            #expect(again.status == 202, "\(again.body)")
            #expect(try await Self.waitForSettled(cluster)["epoch"] == .number("4"))
            try await Self.send(cluster, prefix: "again", size: 100, offset: 6, into: acknowledged)
            #expect(acknowledged.refused == [])
            try await Self.expectExact(cluster, acknowledged)
        }
    }
}
