import Foundation
import NIOCore
import TallyCore
import TallyStore
import Testing

@testable import TallyCluster

/// A slot chunk crosses the wire only whole: the receiver stages the body in a file, fsyncs it and checks its byte
/// count and SHA-256 before decoding it; a flipped byte, a short or a long body, or a header that announces other
/// slots is refused, and no staging file stays behind.
@Suite struct SlotChunkTests {
    static func data() -> SlotData {
        let body = #"{"specversion":"1.0","id":"e1","source":"s","type":"usage","subject":"c\u0000x","data":{"v":1}}"#
        return SlotData(
            slots: [2, 5], slotCount: 8, after: 10, through: 40, sourcePosition: 55,
            subjects: [
                SubjectRecord(id: "01J0000000000000000000000A", key: "c\u{0}x", firstSeen: Timestamp(micros: 7))
            ],
            events: [
                SlotEvent(position: 12, ingested: Timestamp(micros: 100), time: Timestamp(micros: 90), body: body),
                SlotEvent(position: 39, ingested: Timestamp(micros: 200), time: Timestamp(micros: 190), body: "é\n"),
            ])
    }

    static func receiver() -> SlotChunkReceiver {
        SlotChunkReceiver(
            stagingDirectory: NSTemporaryDirectory() + "tally-staging-\(UUID().uuidString)", maxChunkBytes: 1 << 20,
            maxBytesPerSecond: 1 << 30)
    }

    /// `body` in pieces of 7 bytes, as a network stream delivers it.
    static func stream(_ body: Data) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            var offset = 0
            while offset < body.count {
                continuation.yield(ByteBuffer(bytes: body[offset..<min(offset + 7, body.count)]))
                offset += 7
            }
            continuation.finish()
        }
    }

    static func staged(_ receiver: SlotChunkReceiver) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: receiver.stagingDirectory)) ?? []
    }

    @Test func aWholeChunkArrivesAsItWasSent() async throws {
        let (header, body) = try SlotChunkBody.encode(Self.data())
        #expect(header.bytes == body.count && header.events == 2 && header.sha256.count == 64)
        let parsed = try #require(SlotChunkHeader { header.fields[$0] })
        #expect(parsed == header)
        let receiver = Self.receiver()
        try receiver.accept(parsed, slots: [2, 5], slotCount: 8, after: 10)
        #expect(try await receiver.receive(parsed, body: Self.stream(body)) == Self.data())
        #expect(Self.staged(receiver) == [])
    }

    @Test func aDamagedOrForeignChunkIsRefused() async throws {
        let (header, body) = try SlotChunkBody.encode(Self.data())
        let receiver = Self.receiver()
        var flipped = body
        flipped[flipped.count / 2] ^= 0x01
        await #expect(throws: SlotChunkError.self) { try await receiver.receive(header, body: Self.stream(flipped)) }
        do {
            _ = try await receiver.receive(header, body: Self.stream(flipped))
        } catch let error as SlotChunkError {
            guard case .checksumMismatch(let expected, _) = error else { throw error }
            #expect(expected == header.sha256)
        }
        await #expect(throws: SlotChunkError.truncated(expectedBytes: body.count, receivedBytes: body.count - 1)) {
            try await receiver.receive(header, body: Self.stream(body.dropLast()))
        }
        await #expect(throws: SlotChunkError.truncated(expectedBytes: body.count, receivedBytes: body.count + 1)) {
            try await receiver.receive(header, body: Self.stream(body + Data([0x20])))
        }
        #expect(throws: SlotChunkError.refused("the chunk carries other slots or positions than were asked")) {
            try receiver.accept(header, slots: [2], slotCount: 8, after: 10)
        }
        #expect(throws: SlotChunkError.refused("the chunk carries other slots or positions than were asked")) {
            try receiver.accept(header, slots: [2, 5], slotCount: 8, after: 0)
        }
        let small = SlotChunkReceiver(
            stagingDirectory: receiver.stagingDirectory, maxChunkBytes: body.count - 1, maxBytesPerSecond: 1 << 30)
        #expect(
            throws: SlotChunkError.refused("the chunk has \(body.count) bytes; at most \(body.count - 1) are accepted")
        ) {
            try small.accept(header, slots: [2, 5], slotCount: 8, after: 10)
        }
        #expect(Self.staged(receiver) == [])
        #expect(SlotChunkHeader { _ in nil } == nil)
    }
}
