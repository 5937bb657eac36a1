import TallyCore
import TallyTestSupport
import Testing

/// A meter created on a cluster whose workers hold events is back-filled on each worker in the background: the
/// coordinator relays a worker's 503 `meter-building` until every worker is done, answers partial rows when allowed,
/// and then the exact total.
@Suite struct ClusterMeterBuildTests {
    @Test func theCoordinatorRelaysMeterBuildingUntilEveryWorkerIsDone() async throws {
        // One event per back-fill step and nothing inline: each worker's back-fill takes thousands of transactions.
        let cluster = try ClusterProcesses(
            workers: 2, workerConfig: "limits:\n  backfillChunkEvents: 1\n  backfillInlinePositions: 0\n")
        do {
            try await cluster.waitReady()
            for batch in 0..<30 {
                let events = (0..<100).map { index in
                    #"{"specversion":"1.0","id":"b\#(batch)-\#(index)","source":"test","type":"usage","#
                        + #""subject":"customer-\#(index % 37)","time":"2026-03-02T12:00:00Z","data":{"tokens":2}}"#
                }
                let reply = try await cluster.api(
                    .POST, "/api/v1/events", "[" + events.joined(separator: ",") + "]",
                    contentType: "application/cloudevents-batch+json")
                #expect(reply.status == 204)
            }
            let meter = #"{"slug":"tokens","aggregation":"SUM","eventType":"usage","valueProperty":"$.tokens"}"#
            #expect(try await cluster.api(.POST, "/api/v1/meters", meter).status == 201)

            let path = "/api/v1/meters/tokens/query?from=2026-03-01T00:00:00Z&to=2026-03-05T00:00:00Z"
            let building = try await cluster.api(.GET, path)
            #expect(building.status == 503)
            #expect(building.json?["type"] == .string("urn:tally:problem:meter-building"))
            #expect(building.json?["meter"] == .string("tokens"))
            #expect(try await cluster.api(.GET, path + "&allowPartial=true").status == 200)

            var answer = building
            for _ in 0..<1200 where answer.status == 503 {
                #expect(answer.json?["type"] == .string("urn:tally:problem:meter-building"))
                try await Task.sleep(for: .milliseconds(50))
                answer = try await cluster.api(.GET, path)
            }
            #expect(answer.status == 200)
            #expect(answer.json?["data"]?.arrayValue?.first?["value"] == .number("6000"))
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
