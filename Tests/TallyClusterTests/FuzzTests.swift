import Foundation
import NIOHTTP1
import Synchronization
import TallyCore
import TallyTestSupport
import Testing

/// Generated hostile requests against a live node and a live 3-worker cluster at once: processes stay up, no
/// 5xx, every 4xx is a problem naming a field, both answer with the same status (and the same body where "now"
/// plays no part), and nothing but the events of accepted batches is stored. `TALLY_FUZZ_SEED` and
/// `TALLY_FUZZ_REQUESTS` replay or extend a run; a failure names its seed and request number.
@Suite struct FuzzTests {
    static let seed = ProcessInfo.processInfo.environment["TALLY_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_127
    static let requests = ProcessInfo.processInfo.environment["TALLY_FUZZ_REQUESTS"].flatMap(Int.init) ?? 20_000
    static let lanes = 8
    static let meters = [
        #"{"slug":"fz_sum","aggregation":"SUM","eventType":"usage","valueProperty":"$.tokens","#
            + #""groupBy":{"model":"$.model"}}"#,
        #"{"slug":"fz_count","aggregation":"COUNT","eventType":"usage"}"#,
        #"{"slug":"fz_users","aggregation":"UNIQUE_COUNT","eventType":"usage","valueProperty":"$.user"}"#,
    ]
    static let baselineQueries = [
        "/api/v1/meters/fz_sum/query?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z&groupBy=subject&groupBy=model",
        "/api/v1/meters/fz_count/query?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z&windowSize=MINUTE",
        "/api/v1/meters/fz_users/query?from=2024-01-01T00:00:30Z&to=2024-01-01T00:09:00Z&groupBy=subject",
    ]

    /// What the lanes found, gathered under a lock.
    struct Findings {
        var problems: [String] = []
        var storedIDs = Set<Identifier>()
        var sent = 0
    }

    final class Gathered: Sendable {
        let findings = Mutex(Findings())
    }

    @Test func hostileRequestsNeverCrashNeverFiveHundredAndChangeNothing() async throws {
        let cluster = try ClusterProcesses()
        let single = try NodeProcess(arguments: ["serve", "--port", "0", "--data", cluster.folder + "/single"])
        defer { _ = single.stop() }
        do {
            try await cluster.waitReady()
            let targets = [single.baseURL, cluster.coordinator.baseURL]
            for meter in Self.meters {
                for target in targets {
                    #expect(try await TestHTTP.send(.POST, target + "/api/v1/meters", body: meter).status == 201)
                }
            }
            let usage = (0..<60).map { index in
                let subject = ["c1", "c2", "\u{e9}", "e\u{301}"][index % 4]
                return
                    #"{"specversion":"1.0","id":"u\#(index)","source":"seed","type":"usage","subject":"\#(subject)","#
                    + #""time":"2024-01-01T00:0\#(index % 10):\#(10 + index % 40)Z","data":{"tokens":\#(index).5,"#
                    + #""model":"m\#(index % 3)","#
                    + #""user":"\#(["\u{e9}", "e\u{301}", "x"][index % 3])"}}"#
            }
            for target in targets {
                #expect(
                    try await TestHTTP.send(
                        .POST, target + "/api/v1/events", body: "[" + usage.joined(separator: ",") + "]"
                    ).status == 204)
            }
            var baseline: [String] = []
            for query in Self.baselineQueries {
                let (fromSingle, fromCluster) = (
                    try await TestHTTP.send(.GET, single.baseURL + query),
                    try await TestHTTP.send(.GET, cluster.coordinator.baseURL + query)
                )
                #expect(fromSingle.status == 200)
                #expect(fromSingle.body == fromCluster.body, "\(query)")
                baseline.append(fromSingle.body)
            }

            var generator = RequestFuzzer(seed: Self.seed, meters: ["fz_sum", "fz_count", "fz_users"])
            let generated = (0..<Self.requests).map { _ in generator.next() }
            let gathered = Gathered()
            let requests = generated
            await withTaskGroup(of: Void.self) { group in
                for lane in 0..<Self.lanes {
                    group.addTask {
                        for number in stride(from: lane, to: requests.count, by: Self.lanes) {
                            let request = requests[number]
                            let outcome = await Self.check(request, number: number, targets: targets)
                            gathered.findings.withLock { found in
                                found.sent += 1
                                found.problems += outcome.problems
                                if outcome.accepted, let ids = request.storedIDs { found.storedIDs.formUnion(ids) }
                            }
                        }
                    }
                }
            }
            let result = gathered.findings.withLock { $0 }
            #expect(result.sent == Self.requests)
            for problem in result.problems.prefix(20) { Issue.record("seed \(Self.seed): \(problem)") }
            let report = NSTemporaryDirectory() + "tally-fuzz-\(Self.seed).log"
            if !result.problems.isEmpty {
                try? result.problems.joined(separator: "\n").write(toFile: report, atomically: true, encoding: .utf8)
            }
            #expect(result.problems.isEmpty, "seed \(Self.seed): \(result.problems.count) problems, all in \(report)")

            for target in targets {
                #expect(try await TestHTTP.send(.GET, target + "/healthz").status == 200, "\(target) is up")
            }
            for (query, expected) in zip(Self.baselineQueries, baseline) {
                #expect(try await TestHTTP.send(.GET, single.baseURL + query).body == expected, "node: \(query)")
                #expect(
                    try await TestHTTP.send(.GET, cluster.coordinator.baseURL + query).body == expected,
                    "cluster: \(query)")
            }
            let expectedEvents = usage.count + result.storedIDs.count
            let nodeEvents = try await TestHTTP.send(.GET, single.baseURL + "/readyz").json?["events"]
            #expect(
                nodeEvents == .number(String(expectedEvents)),
                "the node stored only accepted events: \(String(describing: nodeEvents))")
            let clusterEvents = try await cluster.storedEvents()
            #expect(clusterEvents == expectedEvents, "the cluster stored only accepted events: \(clusterEvents)")
            let meters = try await TestHTTP.send(.GET, single.baseURL + "/api/v1/meters").json?.arrayValue?.count
            #expect(meters == Self.meters.count, "no meter was created, changed or deleted")
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    /// Sends one request to every target and checks the answers.
    static func check(
        _ request: FuzzRequest, number: Int, targets: [String]
    ) async -> (problems: [String], accepted: Bool) {
        var replies: [HTTPReply] = []
        var problems: [String] = []
        let label = "request \(number) \(request.method) \(request.path.prefix(120))"
        for target in targets {
            do {
                replies.append(
                    try await TestHTTP.send(
                        request.method, target + request.path, bytes: request.body, contentType: nil,
                        headers: request.headers))
            } catch {
                problems.append("\(label): \(target) failed: \(error)")
                return (problems, false)
            }
        }
        for reply in replies {
            if reply.status >= 500 { problems.append("\(label): \(reply.status) \(reply.body.prefix(300))") }
            if (400..<500).contains(reply.status) {
                let isProblem = reply.headers["Content-Type"].first == "application/problem+json"
                let fields = reply.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
                if !isProblem || fields.isEmpty || fields.contains("") {
                    problems.append(
                        "\(label): \(reply.status) without a problem naming the field: \(reply.body.prefix(300))")
                }
            }
        }
        if replies[0].status != replies[1].status {
            problems.append(
                "\(label): node \(replies[0].status) \(replies[0].body.prefix(200)) but cluster \(replies[1].status) "
                    + "\(replies[1].body.prefix(200))")
        } else if request.comparableBody, replies[0].status == 200, replies[0].body != replies[1].body {
            problems.append("\(label): node and cluster answers differ")
        }
        let accepted = replies.allSatisfy { $0.status == 204 }
        if request.storedIDs == nil, accepted, request.method == .POST {
            problems.append("\(label): accepted although the generator made it invalid")
        }
        if request.storedIDs != nil, request.method == .POST, !accepted {
            problems.append("\(label): a valid batch was refused: \(replies[0].status) \(replies[0].body.prefix(300))")
        }
        return (problems, accepted)
    }
}
