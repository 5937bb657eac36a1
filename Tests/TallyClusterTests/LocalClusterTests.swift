import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// `tally local`, the newcomer's command: a coordinator and worker processes with certificates and data
/// under one folder, serving the API, and all of them gone after Ctrl-C.
@Suite struct LocalClusterTests {
    @Test func localClusterServesAndStopsCleanly() async throws {
        let folder = NSTemporaryDirectory() + "tally-local-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let port = try TestHTTP.freePort()
        let local = try NodeProcess(arguments: ["local", "--workers", "2", "--port", String(port), "--dir", folder])
        #expect(local.baseURL == "http://127.0.0.1:\(port)")
        var ready: UInt = 0
        for _ in 0..<300 where ready != 200 {
            ready = (try? await TestHTTP.send(.GET, local.baseURL + "/readyz"))?.status ?? 0
            if ready != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready == 200)
        let status = try await TestHTTP.send(.GET, local.baseURL + "/api/v1/cluster").json
        #expect(
            status?["workers"]?.arrayValue?.map { $0["address"]?.stringValue ?? "" } == [
                "https://127.0.0.1:\(port + 1)", "https://127.0.0.1:\(port + 2)",
            ])
        #expect(status?["workers"]?.arrayValue?.map { $0["slots"] } == [.number("512"), .number("512")])
        for file in ["ca.pem", "ca.key", "coordinator.pem", "w1.pem", "w2.key"] {
            #expect(FileManager.default.fileExists(atPath: "\(folder)/certs/\(file)"), "\(file)")
        }

        #expect(
            try await TestHTTP.send(
                .POST, local.baseURL + "/api/v1/meters",
                body: #"{"slug":"calls","aggregation":"COUNT","eventType":"call"}"#
            ).status == 201)
        let events = (0..<50).map {
            #"{"specversion":"1.0","id":"\#($0)","source":"t","type":"call","subject":"c\#($0)","#
                + #""time":"2024-01-01T00:00:00Z"}"#
        }
        #expect(
            try await TestHTTP.send(
                .POST, local.baseURL + "/api/v1/events", body: "[" + events.joined(separator: ",") + "]"
            ).status == 204)
        let answer = try await TestHTTP.send(
            .GET, local.baseURL + "/api/v1/meters/calls/query?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z")
        #expect(answer.json?["data"]?.arrayValue?.first?["value"] == .number("50"))

        kill(local.process.processIdentifier, SIGINT)
        local.process.waitUntilExit()
        #expect(local.process.terminationStatus == 0)
        #expect(try TestHTTP.isListening(port: port + 1) == false)
        #expect(try TestHTTP.isListening(port: port + 2) == false)
    }

    @Test func aLocalClusterGrowsOnlineWhenStartedWithMoreWorkers() async throws {
        let folder = NSTemporaryDirectory() + "tally-local-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let port = try TestHTTP.freePort()
        let arguments = ["local", "--port", String(port), "--dir", folder, "--workers"]
        let first = try NodeProcess(arguments: arguments + ["2"])
        for _ in 0..<300 where (try? await TestHTTP.send(.GET, first.baseURL + "/readyz"))?.status != 200 {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(
            try await TestHTTP.send(
                .POST, first.baseURL + "/api/v1/meters",
                body: #"{"slug":"calls","aggregation":"COUNT","eventType":"call"}"#
            ).status == 201)
        let events = (0..<200).map {
            #"{"specversion":"1.0","id":"\#($0)","source":"t","type":"call","subject":"c\#($0 % 50)","#
                + #""time":"2024-01-01T00:00:00Z"}"#
        }
        #expect(
            try await TestHTTP.send(
                .POST, first.baseURL + "/api/v1/events", body: "[" + events.joined(separator: ",") + "]"
            ).status == 204)
        kill(first.process.processIdentifier, SIGINT)
        first.process.waitUntilExit()

        let grown = try NodeProcess(arguments: arguments + ["3"])
        var status: JSONValue?
        for _ in 0..<1200 {
            status = try? await TestHTTP.send(.GET, grown.baseURL + "/api/v1/cluster").json
            // The addition (epoch 2), a repair giving w3 its share of replicas (3), the trim of those it replaced (4).
            if status?["epoch"] == .number("4"), status?["move"] == .null { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let plan = SlotMovePlan.adding("w3", to: SlotPlanner.initial(workers: ["w1", "w2"]))
        #expect(status?["epoch"] == .number("4"))
        #expect(
            status?["workers"]?.arrayValue?.map { $0["slots"] }
                == ["w1", "w2", "w3"].map { .number(String(plan.target.slotCounts[$0] ?? 0)) })
        let answer = try await TestHTTP.send(
            .GET, grown.baseURL + "/api/v1/meters/calls/query?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z")
        #expect(answer.json?["data"]?.arrayValue?.first?["value"] == .number("200"))
        kill(grown.process.processIdentifier, SIGINT)
        grown.process.waitUntilExit()
        #expect(grown.process.terminationStatus == 0)

        // Started with fewer workers, it drains the highest-numbered one; started with more again, that one joins
        // again, empty.
        for (count, workers) in [("2", ["w1", "w2"]), ("3", ["w1", "w2", "w3"])] {
            let resized = try NodeProcess(arguments: arguments + [count])
            for _ in 0..<1200 {
                status = try? await TestHTTP.send(.GET, resized.baseURL + "/api/v1/cluster").json
                let names = status?["workers"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
                if names == workers, status?["move"] == .null, status?["drain"] == .null,
                    status?["workers"]?.arrayValue?.allSatisfy({ $0["slots"] != .number("0") }) == true
                {
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status?["workers"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == workers)
            let counted = try await TestHTTP.send(
                .GET, resized.baseURL + "/api/v1/meters/calls/query?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z")
            #expect(counted.json?["data"]?.arrayValue?.first?["value"] == .number("200"))
            kill(resized.process.processIdentifier, SIGINT)
            resized.process.waitUntilExit()
            #expect(resized.process.terminationStatus == 0)
        }
    }
}
