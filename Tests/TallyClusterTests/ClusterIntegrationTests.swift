import Foundation
import NIOHTTP1
import TallyCore
import TallyTestSupport
import Testing

/// Coordinator + 3 worker processes over mutual TLS against one single-node process fed the same events:
/// every answer must be identical, each customer must live only on its owner, and a dead worker must
/// fail ingestion and queries closed until it is back, with nothing lost or counted twice.
@Suite(.serialized) struct ClusterIntegrationTests {
    static let customers = 1000
    static let events = 100_000
    static let batchEvents = 1000
    static let aggregations = ["SUM", "COUNT", "UNIQUE_COUNT", "AVG", "MIN", "MAX", "LATEST"]
    static let range = "from=2026-03-01T00:00:30Z&to=2026-03-05T00:00:00Z"

    /// 100 batches of 1,000 events over 1,000 customers and 3 days, times shuffled; every tenth batch
    /// repeats 100 events of the batch before it, and some batches repeat an event within themselves.
    static func batches() -> [String] {
        var random = SplitMix64(seed: 42)
        let start = Timestamp(rfc3339: "2026-03-01T00:00:00Z")!.micros
        var batches: [[String]] = []
        for batch in 0..<(events / batchEvents) {
            var items: [String] = []
            for index in 0..<batchEvents {
                let number = batch * batchEvents + index
                let customer = Int.random(in: 0..<customers, using: &random)
                let time = Timestamp(micros: start + Int64.random(in: 0..<(3 * 86_400 * 1_000_000), using: &random))
                let tokens = "\(Int.random(in: -50...5000, using: &random)).\(Int.random(in: 0...999, using: &random))"
                let model = ["gpt", "claude", "llama"][Int.random(in: 0..<3, using: &random)]
                items.append(
                    #"{"specversion":"1.0","id":"e\#(number)","source":"test","type":"usage","#
                        + #""subject":"customer-\#(customer)","time":"\#(time)","data":{"tokens":\#(tokens),"#
                        + #""model":"\#(model)","user":"u\#(number % 97)"}}"#
                )
            }
            if batch % 10 == 9 { items += batches[batch - 1].prefix(100) }
            if batch % 7 == 3 { items.append(items[17]) }
            items.shuffle(using: &random)
            batches.append(items)
        }
        return batches.map { "[" + $0.joined(separator: ",") + "]" }
    }

    static func meter(_ aggregation: String) -> String {
        let value =
            aggregation == "COUNT"
            ? "" : aggregation == "UNIQUE_COUNT" ? #","valueProperty":"$.user""# : #","valueProperty":"$.tokens""#
        return
            #"{"slug":"m_\#(aggregation.lowercased())","aggregation":"\#(aggregation)","#
            + #""eventType":"usage"\#(value),"groupBy":{"model":"$.model"}}"#
    }

    static let queries = [
        range,
        range + "&windowSize=HOUR&groupBy=model",
        range + "&windowSize=DAY&windowTimeZone=America/New_York&groupBy=subject",
        range + "&windowSize=MINUTE&subject=customer-1&subject=customer-500&subject=customer-999",
        range + "&windowSize=MONTH&filterGroupBy[model]=claude&groupBy=subject&groupBy=model",
    ]

    func send(_ url: String, _ batch: String) async throws -> HTTPReply {
        try await TestHTTP.send(
            .POST, url + "/api/v1/events", body: batch, contentType: "application/cloudevents-batch+json")
    }

    /// Every meter answered by both for `perMeter` of the sample queries (rotating, so every query shape
    /// meets several aggregations), compared byte for byte.
    func expectSameAnswers(_ cluster: ClusterProcesses, _ single: NodeProcess, perMeter: Int) async throws {
        for (index, aggregation) in Self.aggregations.enumerated() {
            for step in 0..<perMeter {
                let query = Self.queries[(index + step * 2) % Self.queries.count]
                let path = "/api/v1/meters/m_\(aggregation.lowercased())/query?" + query
                let (clusterURL, singleURL) = (cluster.coordinator.baseURL + path, single.baseURL + path)
                async let clusterReply = TestHTTP.send(.GET, clusterURL)
                async let singleReply = TestHTTP.send(.GET, singleURL)
                let (fromCluster, fromSingle) = try await (clusterReply, singleReply)
                #expect(fromCluster.status == 200, "\(path): \(fromCluster.body.prefix(300))")
                #expect(fromCluster.body == fromSingle.body, "\(path) differs")
                #expect((fromSingle.json?["data"]?.arrayValue?.count ?? 0) > 0, "\(path) has no rows")
            }
        }
        let subjectsPath = "/api/v1/meters/m_sum/subjects"
        #expect(
            try await cluster.api(.GET, subjectsPath).body
                == (try await TestHTTP.send(.GET, single.baseURL + subjectsPath)).body)
        let keys = { (reply: HTTPReply) in reply.json?.arrayValue?.compactMap { $0["key"]?.stringValue } ?? [] }
        #expect(
            keys(try await cluster.api(.GET, "/api/v1/subjects"))
                == keys(try await TestHTTP.send(.GET, single.baseURL + "/api/v1/subjects")))
        for after in ["", "customer-5", "customer-997"] {
            let page = "/api/v1/subjects?limit=300&after=" + after
            let (fromCluster, fromSingle) = (
                try await cluster.api(.GET, page), try await TestHTTP.send(.GET, single.baseURL + page)
            )
            #expect(keys(fromCluster).count == (after == "customer-997" ? 2 : 300))
            #expect(keys(fromCluster) == keys(fromSingle))
            #expect(fromCluster.headers["Link"] == fromSingle.headers["Link"])
        }
    }

    @Test func clusterEqualsSingleNodeAndFailsClosed() async throws {
        // Without replication, so that a dead worker's customers have no other copy.
        let cluster = try ClusterProcesses(clusterSettings: ["replicationFactor: 1"])
        let singleData = cluster.folder + "/single"
        let single = try NodeProcess(arguments: ["serve", "--port", "0", "--data", singleData])
        defer { _ = single.stop() }
        do {
            try await cluster.waitReady()
            for aggregation in Self.aggregations {
                #expect(try await cluster.api(.POST, "/api/v1/meters", Self.meter(aggregation)).status == 201)
                #expect(
                    try await TestHTTP.send(.POST, single.baseURL + "/api/v1/meters", body: Self.meter(aggregation))
                        .status == 201)
            }
            let batches = Self.batches()
            let (coordinatorURL, singleURL) = (cluster.coordinator.baseURL, single.baseURL)
            try await withThrowingTaskGroup(of: (UInt, UInt).self) { group in
                for lane in 0..<4 {
                    group.addTask {
                        var statuses: (UInt, UInt) = (204, 204)
                        for batch in batches.enumerated() where batch.offset % 4 == lane {
                            let (a, b) = (
                                try await send(coordinatorURL, batch.element), try await send(singleURL, batch.element)
                            )
                            if a.status != 204 { statuses.0 = a.status }
                            if b.status != 204 { statuses.1 = b.status }
                        }
                        return statuses
                    }
                }
                for try await statuses in group { #expect(statuses == (204, 204)) }
            }
            try await expectSameAnswers(cluster, single, perMeter: 2)

            // Each customer's events live only on its owner, and nothing is stored twice.
            let table = SlotPlanner.initial(workers: cluster.workerNames)
            var seen = 0
            for name in cluster.workerNames {
                let reply = try await cluster.worker(name, "/internal/v1/subjects", headers: [("Tally-Epoch", "1")])
                let keys = reply.json?.arrayValue?.compactMap { $0["key"]?.stringValue } ?? []
                #expect(!keys.isEmpty)
                #expect(keys.allSatisfy { table.owner(of: $0) == name }, "\(name) holds foreign customers")
                seen += keys.count
            }
            #expect(seen == Self.customers)
            let stored = try await TestHTTP.send(.GET, single.baseURL + "/readyz").json?["events"]
            let storedCount = try #require(
                stored.flatMap { value -> Int? in
                    if case .number(let text) = value { Int(text) } else { nil }
                })
            #expect(try await cluster.storedEvents() == storedCount)
            #expect(try await cluster.reportedEvents(expected: storedCount) == storedCount)
            let status = try await cluster.api(.GET, "/api/v1/cluster").json
            #expect(status?["epoch"] == .number("1"))
            #expect(status?["slotCount"] == .number("1024"))

            // A dead worker: its part of a batch fails with 503, the rest commits; queries fail closed.
            cluster.killWorker("w2")
            let late = (0..<300).map {
                #"{"specversion":"1.0","id":"late-\#($0)","source":"test","type":"usage","#
                    + #""subject":"customer-\#($0 * 3)","time":"2026-03-02T12:00:00Z","data":{"tokens":1,"#
                    + #""model":"gpt","user":"late"}}"#
            }
            let lateBatch = "[" + late.joined(separator: ",") + "]"
            let failed = try await send(cluster.coordinator.baseURL, lateBatch)
            #expect(failed.status == 503)
            #expect(failed.json?["type"]?.stringValue == "urn:tally:problem:worker-unavailable")
            let parts = failed.json?["parts"]?.arrayValue ?? []
            #expect(parts.map { $0["worker"]?.stringValue ?? "" } == ["w1", "w2", "w3"])
            #expect(parts.map { $0["status"]?.stringValue ?? "" } == ["committed", "failed", "committed"])
            let w2Events = late.indices.filter { table.owner(of: "customer-\($0 * 3)") == "w2" }.count
            #expect(parts[1]["events"] == .number(String(w2Events)))
            let closed = try await cluster.api(.GET, "/api/v1/meters/m_sum/query?" + Self.range)
            #expect(closed.status == 503)
            #expect(closed.json?["missingWorkers"] == .array([.string("w2")]))
            let partial = try await cluster.api(.GET, "/api/v1/meters/m_sum/query?allowPartial=true&" + Self.range)
            #expect(partial.status == 200)
            #expect(partial.json?["missingSlots"]?.arrayValue?.count == table.slots(ownedBy: "w2").count)
            #expect(try await cluster.api(.GET, "/api/v1/subjects").status == 503)
            let lateMeter =
                #"{"slug":"m_late","aggregation":"SUM","eventType":"usage","valueProperty":"$.tokens","#
                + #""groupBy":{"model":"$.model"}}"#
            #expect(try await cluster.api(.POST, "/api/v1/meters", lateMeter).status == 201)
            #expect(try await TestHTTP.send(.POST, single.baseURL + "/api/v1/meters", body: lateMeter).status == 201)

            // Back again: it catches up with the meter catalog, the retried batch commits only what was
            // missing, and answers match again.
            try cluster.startWorker("w2")
            try await cluster.waitReady()
            #expect(try await send(cluster.coordinator.baseURL, lateBatch).status == 204)
            #expect(try await send(single.baseURL, lateBatch).status == 204)
            try await expectSameAnswers(cluster, single, perMeter: 1)
            // The meter created while w2 was down reached it when it came back, back-filled from its events (the
            // single node holds more events than it back-fills inline: it answers meter-building until done).
            let latePath = "/api/v1/meters/m_late/query?" + Self.queries[1]
            var lateSingle = try await TestHTTP.send(.GET, single.baseURL + latePath)
            for _ in 0..<1200 where lateSingle.status == 503 {
                #expect(lateSingle.json?["type"] == .string("urn:tally:problem:meter-building"))
                try await Task.sleep(for: .milliseconds(50))
                lateSingle = try await TestHTTP.send(.GET, single.baseURL + latePath)
            }
            let lateCluster = try await cluster.api(.GET, latePath)
            #expect(lateCluster.status == 200)
            #expect(lateCluster.body == lateSingle.body)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
