import Crypto
import Foundation
import HTTPTypes
import TallyCore
import TallyStore

/// One piece of a slot copy on the wire between two workers: HTTP headers that name what the body carries (slots,
/// positions, events, byte count, SHA-256), read and accepted before any of the body flows, and the body itself, the
/// piece's customers and events as JSON.
public struct SlotChunkHeader: Sendable, Hashable {
    /// Largest chunk body a source sends and a receiver accepts, in bytes: a source halves the events of a chunk
    /// until its body fits.
    public static let maxChunkBytes = 64 * 1024 * 1024

    public var slots: [Int]
    public var slotCount: Int
    public var after: Int64
    public var through: Int64
    public var sourcePosition: Int64
    public var events: Int
    public var bytes: Int
    /// Lower-case hex SHA-256 of the body.
    public var sha256: String

    /// The headers carrying it.
    public enum Field {
        public static let slots = HTTPField.Name("Tally-Slots")!
        public static let slotCount = HTTPField.Name("Tally-Slot-Count")!
        public static let after = HTTPField.Name("Tally-After")!
        public static let through = HTTPField.Name("Tally-Through")!
        public static let sourcePosition = HTTPField.Name("Tally-Source-Position")!
        public static let events = HTTPField.Name("Tally-Events")!
        public static let sha256 = HTTPField.Name("Tally-Content-SHA256")!
    }

    /// The header of `data` encoded as `body`.
    init(_ data: SlotData, body: Data) {
        slots = data.slots
        slotCount = data.slotCount
        after = data.after
        through = data.through
        sourcePosition = data.sourcePosition
        events = data.events.count
        bytes = body.count
        sha256 = SlotChunkHeader.hex(SHA256.hash(data: body))
    }

    /// Reads the header from response headers (`name` → value); nil when a field is missing or malformed.
    public init?(_ value: (HTTPField.Name) -> String?) {
        func integer<T: FixedWidthInteger>(_ name: HTTPField.Name) -> T? { value(name).flatMap { T($0) } }
        guard let slotsText = value(Field.slots), let slotCount: Int = integer(Field.slotCount),
            let after: Int64 = integer(Field.after), let through: Int64 = integer(Field.through),
            let sourcePosition: Int64 = integer(Field.sourcePosition), let events: Int = integer(Field.events),
            let bytes: Int = integer(.contentLength), let sha256 = value(Field.sha256), sha256.utf8.count == 64
        else { return nil }
        let slots = slotsText.isEmpty ? [] : slotsText.split(separator: ",").compactMap { Int($0) }
        guard slots.count == (slotsText.isEmpty ? 0 : slotsText.split(separator: ",").count) else { return nil }
        self.slots = slots
        self.slotCount = slotCount
        self.after = after
        self.through = through
        self.sourcePosition = sourcePosition
        self.events = events
        self.bytes = bytes
        self.sha256 = sha256
    }

    /// The header fields, `Content-Length` included.
    var fields: HTTPFields {
        var fields = HTTPFields()
        fields[Field.slots] = slots.map(String.init).joined(separator: ",")
        fields[Field.slotCount] = String(slotCount)
        fields[Field.after] = String(after)
        fields[Field.through] = String(through)
        fields[Field.sourcePosition] = String(sourcePosition)
        fields[Field.events] = String(events)
        fields[Field.sha256] = sha256
        fields[.contentLength] = String(bytes)
        fields[.contentType] = "application/json"
        return fields
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { byte in String(byte, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}

/// The body of a slot chunk: the piece's customers and events (times in microseconds since the epoch).
struct SlotChunkBody: Codable, Sendable {
    struct Subject: Codable, Sendable {
        var id: String
        var key: String
        var firstSeenMicros: Int64
    }

    struct Event: Codable, Sendable {
        var position: Int64
        var ingestedMicros: Int64
        var timeMicros: Int64
        var body: String
    }

    var subjects: [Subject]
    var events: [Event]

    init(_ data: SlotData) {
        subjects = data.subjects.map { Subject(id: $0.id, key: $0.key, firstSeenMicros: $0.firstSeen.micros) }
        events = data.events.map {
            Event(position: $0.position, ingestedMicros: $0.ingested.micros, timeMicros: $0.time.micros, body: $0.body)
        }
    }

    /// The slot data this body carries under `header`.
    func data(_ header: SlotChunkHeader) -> SlotData {
        SlotData(
            slots: header.slots, slotCount: header.slotCount, after: header.after, through: header.through,
            sourcePosition: header.sourcePosition,
            subjects: subjects.map {
                SubjectRecord(id: $0.id, key: $0.key, firstSeen: Timestamp(micros: $0.firstSeenMicros))
            },
            events: events.map {
                SlotEvent(
                    position: $0.position, ingested: Timestamp(micros: $0.ingestedMicros),
                    time: Timestamp(micros: $0.timeMicros), body: $0.body)
            })
    }

    /// `data` encoded as a chunk: its header and body bytes.
    static func encode(_ data: SlotData) throws -> (SlotChunkHeader, Data) {
        let body = try JSONEncoder().encode(SlotChunkBody(data))
        return (SlotChunkHeader(data, body: body), body)
    }
}
