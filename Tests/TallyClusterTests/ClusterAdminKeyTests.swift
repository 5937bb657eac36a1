import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// With API keys configured, changing the cluster's workers needs an admin key (`adminApiKeys`); an ordinary key
/// reads the cluster and uses the public API but is refused with 403, and nothing is planned.
@Suite struct ClusterAdminKeyTests {
    @Test func addingAWorkerNeedsAnAdminKey() async throws {
        let cluster = try ClusterProcesses(
            workers: 1, spares: 1, coordinatorSettings: ["apiKeys: [reader-key]", "adminApiKeys: [admin-key]"])
        do {
            try cluster.startWorker("w2")
            try await cluster.waitReady()
            let url = cluster.coordinator.baseURL + "/api/v1/cluster"
            let body = #"{"name":"w2","url":"\#(cluster.workerURL("w2"))"}"#
            func bearer(_ key: String) -> [(String, String)] { [("Authorization", "Bearer \(key)")] }

            let anonymous = try await TestHTTP.send(.POST, url + "/workers", body: body)
            #expect(anonymous.status == 401)
            #expect(anonymous.json?["type"] == .string("urn:tally:problem:unauthorized"))
            let ordinary = try await TestHTTP.send(.POST, url + "/workers", body: body, headers: bearer("reader-key"))
            #expect(ordinary.status == 403)
            #expect(
                ordinary.json
                    == .object([
                        "type": .string("urn:tally:problem:forbidden"), "title": .string("Forbidden"),
                        "status": .number("403"), "instance": .string("/api/v1/cluster/workers"),
                        "detail": .string("changing the cluster's workers needs an admin API key (adminApiKeys)"),
                        "errors": .array([
                            .object([
                                "field": .string("Authorization"), "reason": .string("is not an admin API key"),
                            ])
                        ]),
                    ]))
            let status = try await TestHTTP.send(.GET, url, headers: bearer("reader-key"))
            #expect(status.status == 200)
            #expect(status.json?["move"] == .null)
            #expect(status.json?["workers"]?.arrayValue?.count == 1)
            #expect(
                try await TestHTTP.send(
                    .GET, cluster.coordinator.baseURL + "/api/v1/meters", headers: bearer("admin-key")
                ).status == 200)

            let added = try await TestHTTP.send(.POST, url + "/workers", body: body, headers: bearer("admin-key"))
            #expect(added.status == 202, "\(added.body)")
            #expect(added.json?["worker"] == .string("w2"))
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
