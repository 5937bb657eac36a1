import GRDB
import TallyCore

/// What a shard holds of one slot, in a form two copies can compare: its events and an order-independent checksum
/// of them (the wrapping sum of each event's XXH64 over its customer, source, id, time and body). Two copies holding
/// the same events have equal digests whatever order and positions they stored them in.
public struct SlotDigest: Sendable, Hashable {
    public var events: Int64
    public var checksum: UInt64

    public init(events: Int64 = 0, checksum: UInt64 = 0) {
        self.events = events
        self.checksum = checksum
    }

    /// The checksum as 16 lowercase hexadecimal digits.
    public var checksumText: String {
        let digits = String(checksum, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Adds one event's hash.
    mutating func add(_ hash: UInt64) {
        events += 1
        checksum &+= hash
    }
}

extension ShardStore {
    /// The digest of each of `slots` (every slot listed, an empty one with no events), read in one transaction: one
    /// scan of the customers, then each of their events through the (customer, time) index.
    public func slotDigests(_ slots: Set<Int>, slotCount: Int) async throws -> [Int: SlotDigest] {
        try ShardStore.check(slots, slotCount: slotCount)
        return try await pool.read { db in
            var digests = Dictionary(uniqueKeysWithValues: slots.map { ($0, SlotDigest()) })
            for subject in try ShardStore.subjects(in: slots, slotCount: slotCount, db: db) {
                let slot = SlotTable.slot(of: subject.key, slotCount: slotCount)
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT \(StoredText.column("source")), \(StoredText.column("event_id")), time_us, body
                        FROM events WHERE subject = \(StoredText.parameter)
                        """,
                    arguments: [StoredText.argument(subject.key)])
                while let row = try rows.next() {
                    let time: Int64 = row[2]
                    let body: String = row[3]
                    let text = [subject.key, StoredText.string(row[0]), StoredText.string(row[1]), String(time), body]
                        .joined(separator: "\u{0}")
                    digests[slot, default: SlotDigest()].add(XXHash64.hash(text))
                }
            }
            return digests
        }
    }
}
