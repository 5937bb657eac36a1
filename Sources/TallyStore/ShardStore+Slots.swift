import Foundation
import GRDB
import TallyCore

/// One raw event of a slot as a shard stored it: its position there, when that shard received it, its time (the one
/// given at ingestion to an event that came without one) and its body exactly as received.
public struct SlotEvent: Sendable, Hashable {
    public var position: Int64
    public var ingested: Timestamp
    public var time: Timestamp
    public var body: String

    public init(position: Int64, ingested: Timestamp, time: Timestamp, body: String) {
        self.position = position
        self.ingested = ingested
        self.time = time
        self.body = body
    }
}

/// What some slots hold in one shard up to its position: their customers (ids and first-seen times kept) and their
/// raw events in position order. Aggregates are not carried; a shard that installs the data derives them.
public struct SlotData: Sendable, Hashable {
    public var slots: [Int]
    public var slotCount: Int
    /// The exporting shard's position: every event of these slots at or below it is in `events`.
    public var position: Int64
    public var subjects: [SubjectRecord]
    public var events: [SlotEvent]

    public init(slots: [Int], slotCount: Int, position: Int64, subjects: [SubjectRecord], events: [SlotEvent]) {
        self.slots = slots
        self.slotCount = slotCount
        self.position = position
        self.subjects = subjects
        self.events = events
    }
}

/// Why slot data could not be read or installed.
public enum SlotDataError: Error, Sendable, Hashable {
    /// A slot outside 0..<slotCount, or a slot count below 1.
    case invalidSlot(Int, slotCount: Int)
    /// More events than `StoreConfiguration.maxSlotExportEvents` (moving them needs the chunked transfer).
    case tooLarge(events: Int, limit: Int)
    /// An event of the data is not a valid stored event, or belongs to a customer outside the data's slots.
    case invalidEvent(position: Int64)
}

extension ShardStore {
    /// The customers of `slots` (subject → slot as the cluster places them: XXH64 mod `slotCount`) and their raw
    /// events, read in one transaction, with the shard's position at that moment. Reads the subjects table once and
    /// each of those customers' events through `events_subject_time`; no other slot's events are read.
    public func exportSlots(_ slots: Set<Int>, slotCount: Int) async throws -> SlotData {
        try ShardStore.check(slots, slotCount: slotCount)
        let limit = configuration.maxSlotExportEvents
        return try await pool.read { db in
            let position = try ShardStore.position(db)
            let subjects = try ShardStore.subjects(in: slots, slotCount: slotCount, db: db)
            var events: [SlotEvent] = []
            for subject in subjects {
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT seq, ingested_us, time_us, body FROM events INDEXED BY events_subject_time
                        WHERE subject = \(StoredText.parameter) AND seq <= ?
                        """, arguments: [StoredText.argument(subject.key), position])
                while let row = try rows.next() {
                    guard events.count < limit else {
                        throw SlotDataError.tooLarge(events: events.count + 1, limit: limit)
                    }
                    events.append(
                        SlotEvent(
                            position: row[0], ingested: Timestamp(micros: row[1]), time: Timestamp(micros: row[2]),
                            body: row[3]))
                }
            }
            events.sort { $0.position < $1.position }
            return SlotData(
                slots: slots.sorted(), slotCount: slotCount, position: position, subjects: subjects, events: events)
        }
    }

    /// Installs slot data another shard exported: its customers (keeping their ids and first-seen times) and its
    /// events in their order, each at this shard's next position, remembered for de-duplication from the time the
    /// exporting shard received it; an event already here (same source, id and customer) is skipped. Every meter's
    /// aggregates are then rebuilt from raw events (`changeEventsAndRebuild`). Returns the events added.
    @discardableResult
    public func installSlots(_ data: SlotData) async throws -> Int {
        try ShardStore.check(Set(data.slots), slotCount: data.slotCount)
        guard data.events.count <= configuration.maxSlotExportEvents else {
            throw SlotDataError.tooLarge(events: data.events.count, limit: configuration.maxSlotExportEvents)
        }
        let slots = Set(data.slots)
        var decoded: [(SlotEvent, CloudEvent)] = []
        for event in data.events.sorted(by: { $0.position < $1.position }) {
            guard let parsed = StoredEvent.decode(event.body, timeMicros: event.time.micros),
                slots.contains(SlotTable.slot(of: parsed.subject, slotCount: data.slotCount))
            else { throw SlotDataError.invalidEvent(position: event.position) }
            decoded.append((event, parsed))
        }
        let subjects = data.subjects.filter { slots.contains(SlotTable.slot(of: $0.key, slotCount: data.slotCount)) }
        let events = decoded
        let hash = configuration.dedupHash
        let hasCollisions = hasDedupCollisions.withLock { $0 }
        return try await changeEventsAndRebuild(
            { db -> (added: Int64, last: Int64?, subjects: Set<Identifier>, collisions: Bool) in
                for subject in subjects {
                    try db.execute(
                        sql: ShardStore.insertSubjectSQL,
                        arguments: [StoredText.argument(subject.key), subject.id, subject.firstSeen.micros])
                }
                var position = try ShardStore.position(db)
                var added: Int64 = 0
                var seen = Set<Identifier>()
                var deduplicator = try Deduplicator(db, hash: hash, hasCollisions: hasCollisions)
                for (stored, event) in events {
                    guard
                        try deduplicator.admit(
                            source: event.source, id: event.id, subject: event.subject, seq: position + 1,
                            ingestedMicros: stored.ingested.micros, db: db)
                    else { continue }
                    position += 1
                    try db.execute(
                        sql: """
                            INSERT INTO events(seq, subject, source, event_id, type, time_us, ingested_us, body)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            position, event.subject, event.source, event.id, event.type, stored.time.micros,
                            stored.ingested.micros, stored.body,
                        ])
                    added += 1
                    if seen.insert(Identifier(event.subject)).inserted {
                        try db.execute(
                            sql: ShardStore.insertSubjectSQL,
                            arguments: [
                                StoredText.argument(event.subject), ULID.make(time: stored.ingested),
                                stored.ingested.micros,
                            ])
                    }
                }
                try db.execute(sql: "UPDATE positions SET last = ? WHERE id = 1", arguments: [position])
                return (added, added > 0 ? position : nil, seen, deduplicator.hasCollisions)
            },
            then: { outcome in
                if outcome.collisions { self.hasDedupCollisions.withLock { $0 = true } }
                if let last = outcome.last { self.lastPosition.withLock { $0 = max($0, last) } }
                self.storedEvents.withLock { $0 += outcome.added }
                self.knownSubjects.withLock { $0.formUnion(outcome.subjects) }
            }
        ).added.asInt
    }

    /// Deletes everything `slots` hold here: their customers, raw events and de-dup entries, then rebuilds every
    /// meter's aggregates from the raw events that remain. The shard's position does not go back. Returns the events
    /// deleted.
    @discardableResult
    public func deleteSlots(_ slots: Set<Int>, slotCount: Int) async throws -> Int {
        try ShardStore.check(slots, slotCount: slotCount)
        let hash = configuration.dedupHash
        return try await changeEventsAndRebuild(
            { db -> (deleted: Int64, subjects: Set<Identifier>) in
                let subjects = try ShardStore.subjects(in: slots, slotCount: slotCount, db: db)
                var deleted: Int64 = 0
                for subject in subjects {
                    try Deduplicator.forget(subject: subject.key, hash: hash, db: db)
                    try db.execute(
                        sql: "DELETE FROM events WHERE subject = \(StoredText.parameter)",
                        arguments: [StoredText.argument(subject.key)])
                    deleted += Int64(db.changesCount)
                    try db.execute(
                        sql: "DELETE FROM subjects WHERE key = \(StoredText.parameter)",
                        arguments: [StoredText.argument(subject.key)])
                }
                return (deleted, Set(subjects.map { Identifier($0.key) }))
            },
            then: { outcome in
                self.storedEvents.withLock { $0 -= outcome.deleted }
                self.knownSubjects.withLock { $0.subtract(outcome.subjects) }
            }
        ).deleted.asInt
    }

    private static func check(_ slots: Set<Int>, slotCount: Int) throws {
        guard slotCount >= 1 else { throw SlotDataError.invalidSlot(slotCount, slotCount: slotCount) }
        if let bad = slots.sorted().first(where: { !(0..<slotCount).contains($0) }) {
            throw SlotDataError.invalidSlot(bad, slotCount: slotCount)
        }
    }

    /// Stores a customer (key, id, first seen) unless it is stored, its key bound with every byte.
    private static let insertSubjectSQL =
        "INSERT OR IGNORE INTO subjects(key, id, first_seen_us) VALUES (\(StoredText.parameter), ?, ?)"

    /// The stored customers whose slot is in `slots`, by key: one scan of the subjects table.
    private static func subjects(in slots: Set<Int>, slotCount: Int, db: Database) throws -> [SubjectRecord] {
        var found: [SubjectRecord] = []
        let rows = try Row.fetchCursor(
            db, sql: "SELECT id, \(StoredText.column("key")), first_seen_us FROM subjects ORDER BY key")
        while let row = try rows.next() {
            let key = StoredText.string(row[1])
            guard slots.contains(SlotTable.slot(of: key, slotCount: slotCount)) else { continue }
            found.append(SubjectRecord(id: row[0], key: key, firstSeen: Timestamp(micros: row[2])))
        }
        return found
    }
}

extension Int64 {
    /// A count of rows as an `Int`.
    fileprivate var asInt: Int { Int(clamping: self) }
}
