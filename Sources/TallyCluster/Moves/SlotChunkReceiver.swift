import Crypto
import Foundation
import NIOCore
import TallyStore

/// Why a slot chunk was refused; nothing of a refused chunk is installed.
public enum SlotChunkError: Error, Sendable, Hashable {
    /// The chunk's header announced something other than what was asked, or more than `maxChunkBytes`.
    case refused(String)
    /// The body ended before the announced byte count, or ran past it.
    case truncated(expectedBytes: Int, receivedBytes: Int)
    /// The body's SHA-256 differs from the announced one.
    case checksumMismatch(expected: String, received: String)
    /// The body is not a slot chunk.
    case malformed
}

/// Receives one slot chunk: checks its header before reading the body, streams the body into a staging file while
/// hashing it (pausing to stay under `maxBytesPerSecond`), fsyncs it, verifies byte count and SHA-256, and only
/// then decodes it. The staging file is removed whatever the outcome.
public struct SlotChunkReceiver: Sendable {
    /// The rate limit of a worker's slot copies, in bytes per second of chunk bodies received.
    public static let maxCopyBytesPerSecond = 200 * 1024 * 1024

    public let stagingDirectory: String
    /// Largest chunk body accepted, in bytes.
    public let maxChunkBytes: Int
    /// Rate limit of the transfer, in bytes per second.
    public let maxBytesPerSecond: Int

    public init(stagingDirectory: String, maxChunkBytes: Int, maxBytesPerSecond: Int) {
        self.stagingDirectory = stagingDirectory
        self.maxChunkBytes = maxChunkBytes
        self.maxBytesPerSecond = maxBytesPerSecond
    }

    /// Removes what an interrupted receive left in the staging folder (a worker killed in the middle of a chunk);
    /// call before the worker serves.
    public func clearStaging() throws {
        guard FileManager.default.fileExists(atPath: stagingDirectory) else { return }
        try FileManager.default.removeItem(atPath: stagingDirectory)
    }

    /// Accepts or refuses `header` for a request of `slots` after position `after`.
    public func accept(_ header: SlotChunkHeader, slots: [Int], slotCount: Int, after: Int64) throws(SlotChunkError) {
        guard header.slots == slots, header.slotCount == slotCount, header.after == after else {
            throw .refused("the chunk carries other slots or positions than were asked")
        }
        guard header.bytes <= maxChunkBytes else {
            throw .refused("the chunk has \(header.bytes) bytes; at most \(maxChunkBytes) are accepted")
        }
        guard header.through >= header.after, header.sourcePosition >= header.through, header.events >= 0 else {
            throw .refused("the chunk's positions are inconsistent")
        }
    }

    /// The slot data of an accepted chunk whose body arrives as `body`.
    public func receive<Body: AsyncSequence & Sendable>(
        _ header: SlotChunkHeader, body: Body
    ) async throws -> SlotData where Body.Element == ByteBuffer {
        try FileManager.default.createDirectory(atPath: stagingDirectory, withIntermediateDirectories: true)
        let path = stagingDirectory + "/\(UUID().uuidString).chunk"
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw SlotChunkError.malformed }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        var hasher = SHA256()
        var received = 0
        let started = ContinuousClock.now
        do {
            for try await buffer in body {
                received += buffer.readableBytes
                guard received <= header.bytes else {
                    throw SlotChunkError.truncated(expectedBytes: header.bytes, receivedBytes: received)
                }
                let bytes = Data(buffer.readableBytesView)
                hasher.update(data: bytes)
                try file.write(contentsOf: bytes)
                let due = started + .seconds(Double(received) / Double(maxBytesPerSecond))
                if due > .now { try await Task.sleep(until: due) }
            }
            try file.synchronize()
            try file.close()
        } catch {
            try? file.close()
            throw error
        }
        guard received == header.bytes else {
            throw SlotChunkError.truncated(expectedBytes: header.bytes, receivedBytes: received)
        }
        let digest = SlotChunkHeader.hex(hasher.finalize())
        guard digest == header.sha256 else {
            throw SlotChunkError.checksumMismatch(expected: header.sha256, received: digest)
        }
        guard let staged = FileManager.default.contents(atPath: path),
            let decoded = try? JSONDecoder().decode(SlotChunkBody.self, from: staged),
            decoded.events.count == header.events
        else { throw SlotChunkError.malformed }
        return decoded.data(header)
    }
}
