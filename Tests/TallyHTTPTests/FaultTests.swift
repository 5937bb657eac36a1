import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Faults a node must survive without losing or double-counting an event: a full disk, a port in use.
@Suite(.serialized) struct FaultTests {
    /// A tmpfs of `megabytes` mounted on a new folder (this needs root, as CI and the development machines have).
    static func mountSmallDisk(megabytes: Int) throws -> String {
        let folder = NSTemporaryDirectory() + "tally-small-disk-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", folder]
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            throw NodeProcess.StartFailure(
                description: "mount -t tmpfs failed (\(mount.terminationStatus)); this test needs root")
        }
        return folder
    }

    static func unmount(_ folder: String) {
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-l", folder]
        try? umount.run()
        umount.waitUntilExit()
    }

    /// Fills the file system of `path` with a file until writes fail; returns the file's path.
    static func fill(_ folder: String) -> String {
        let path = folder + "/filler"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { return path }
        let chunk = Data(count: 64 * 1024)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        try? handle.close()
        return path
    }

    static func batch(_ number: Int) -> String {
        "["
            + (0..<100).map {
                eventJSON(
                    "b\(number)-\($0)", subject: "c\($0 % 7)", time: "2024-01-01T00:\(10 + $0 % 40):00Z",
                    data: #"{"tokens": \#($0 + 1)}"#)
            }.joined(separator: ",") + "]"
    }

    @Test func aFullDiskRefusesWithNothingAppliedAndIngestionResumesByItself() async throws {
        let disk = try Self.mountSmallDisk(megabytes: 12)
        defer { Self.unmount(disk) }
        let node = try NodeProcess(arguments: ["serve", "--port", "0", "--data", disk + "/data"])
        defer { _ = node.stop() }
        let api = LiveNodeClient(baseURL: node.baseURL)
        #expect(try await api.send(.POST, "/api/v1/meters", tokensMeter).status == 201)
        var acknowledged: [Int] = []
        for number in 0..<5 {
            #expect(try await api.send(.POST, "/api/v1/events", Self.batch(number)).status == 204)
            acknowledged.append(number)
        }
        let filler = Self.fill(disk)
        var refused: [Int] = []
        for number in 5..<40 {
            let reply = try await api.send(.POST, "/api/v1/events", Self.batch(number))
            switch reply.status {
            case 204: acknowledged.append(number)
            case 507:
                #expect(reply.json?["type"] == .string("urn:tally:problem:disk-full"))
                refused.append(number)
            default: Issue.record("batch \(number): \(reply.status) \(reply.body)")
            }
        }
        #expect(!refused.isEmpty, "the disk never filled")
        #expect(try await api.send(.GET, "/readyz").status == 503)
        try FileManager.default.removeItem(atPath: filler)
        #expect(try await api.send(.GET, "/readyz").status == 200)
        for number in refused.prefix(2) {
            #expect(
                try await api.send(.POST, "/api/v1/events", Self.batch(number)).status == 204, "retried batch \(number)"
            )
            acknowledged.append(number)
        }
        #expect(try await api.send(.POST, "/api/v1/events", Self.batch(acknowledged[0])).status == 204)
        let expected = acknowledged.count * 100
        let query = "/api/v1/meters/tokens_total/query?\(allTime)"
        let sum = acknowledged.count * (1...100).reduce(0, +)
        #expect(try await api.send(.GET, query).json?["data"]?.arrayValue?.first?["value"] == .number(String(sum)))
        #expect(try await api.send(.GET, "/readyz").json?["events"] == .number(String(expected)))
        node.kill()

        let restarted = try NodeProcess(arguments: ["serve", "--port", "0", "--data", disk + "/data"])
        defer { _ = restarted.stop() }
        let after = LiveNodeClient(baseURL: restarted.baseURL)
        #expect(try await after.send(.GET, query).json?["data"]?.arrayValue?.first?["value"] == .number(String(sum)))
        #expect(try await after.send(.GET, "/readyz").json?["events"] == .number(String(expected)))
    }

    @Test func aPortInUseEndsTheProcessAtOnceNamingTheAddress() async throws {
        let folder = NSTemporaryDirectory() + "tally-port-\(UUID().uuidString)"
        let first = try NodeProcess(arguments: ["serve", "--port", "0", "--data", folder + "/a"])
        defer { _ = first.stop() }
        let port = try #require(first.baseURL.split(separator: ":").last.map(String.init))
        let started = Date()
        let second = try NodeProcess.run(["serve", "--port", port, "--data", folder + "/b"])
        #expect(second.status != 0)
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(
            second.error.contains("Tally could not listen on http://127.0.0.1:\(port)"), "\(second.error.suffix(500))")
        #expect(second.error.count < 20_000, "no log flood")
        #expect(try await TestHTTP.send(.GET, first.baseURL + "/healthz").status == 200)
    }
}
