import Foundation
import TallyCore
import TallyTestSupport
import Testing

/// `tally local` supervises its workers: one that dies is started again, and none outlives a killed `tally local`.
@Suite struct SupervisionTests {
    /// The process ids of running `tally worker` processes whose data lives under `folder`.
    static func workerProcesses(under folder: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.contains("worker") && arguments.contains { $0.hasPrefix(folder) }
        }.sorted()
    }

    static func waitUntil(seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    @Test func aKilledWorkerIsRestartedAndNoWorkerOutlivesAKilledLocalCluster() async throws {
        let folder = NSTemporaryDirectory() + "tally-supervise-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let port = try TestHTTP.freePort()
        let local = try NodeProcess(arguments: ["local", "--workers", "2", "--port", String(port), "--dir", folder])
        let ready = { (try? await TestHTTP.send(.GET, local.baseURL + "/readyz"))?.status == 200 }
        #expect(try await Self.waitUntil(seconds: 30, ready))
        let workers = Self.workerProcesses(under: folder)
        #expect(workers.count == 2)

        kill(workers[0], SIGKILL)
        #expect(
            try await Self.waitUntil(seconds: 30) {
                let now = Self.workerProcesses(under: folder)
                return now.count == 2 && !now.contains(workers[0])
            }, "the killed worker was started again")
        #expect(try await Self.waitUntil(seconds: 30, ready))

        local.kill()
        #expect(
            try await Self.waitUntil(seconds: 15) { Self.workerProcesses(under: folder).isEmpty }, "no orphan worker")
        #expect(try TestHTTP.isListening(port: port + 1) == false)
        #expect(try TestHTTP.isListening(port: port + 2) == false)
    }
}
