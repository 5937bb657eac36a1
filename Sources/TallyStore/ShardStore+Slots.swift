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

/// What some slots hold in one shard between two of its positions: the raw events of those slots above `after` and
/// at or below `through`, in position order, and the records (ids and first-seen times) of their customers.
/// Aggregates are not carried; a shard that installs the data derives them as it does for ingested events. A copy of
/// a slot set is a sequence of these, each starting where the previous one ended.
public struct SlotData: Sendable, Hashable {
    public var slots: [Int]
    public var slotCount: Int
    /// The position the data starts after (0 for the start of the shard).
    public var after: Int64
    /// Every event of these slots above `after` and at or below `through` is in `events`.
    public var through: Int64
    /// The exporting shard's position when it read the data: the copy has caught up when `through` reaches it.
    public var sourcePosition: Int64
    public var subjects: [SubjectRecord]
    public var events: [SlotEvent]

    public init(
        slots: [Int], slotCount: Int, after: Int64, through: Int64, sourcePosition: Int64, subjects: [SubjectRecord],
        events: [SlotEvent]
    ) {
        self.slots = slots
        self.slotCount = slotCount
        self.after = after
        self.through = through
        self.sourcePosition = sourcePosition
        self.subjects = subjects
        self.events = events
    }
}

/// Why slot data could not be read or installed.
public enum SlotDataError: Error, Sendable, Hashable {
    /// A slot outside 0..<slotCount, or a slot count below 1.
    case invalidSlot(Int, slotCount: Int)
    /// More events than `StoreConfiguration.maxSlotExportEvents` in one piece of slot data.
    case tooLarge(events: Int, limit: Int)
    /// An event of the data is not a valid stored event, belongs to a customer outside the data's slots, or lies
    /// outside its positions.
    case invalidEvent(position: Int64)
    /// The data starts after `after`, but the copy it continues has only reached `copiedThrough`: a piece is missing.
    case gap(copiedThrough: Int64, after: Int64)
    /// Customer state holds a row of `table` whose customer lies outside the data's slots.
    case foreignCustomerRow(table: String)
    /// Customer state holds a row of `table` with a column that is not text, an integer or null.
    case invalidCustomerRow(table: String)
}

extension ShardStore {
    /// The events of `slots` (subject → slot as the cluster places them: XXH64 mod `slotCount`) above position
    /// `after`, in position order, with their customers' records, read in one transaction. Walks the positions from
    /// `after` on (the events table's primary key) and stops after `maxEvents` events of these slots (at most
    /// `maxSlotExportEvents`), `slotExportBodyBytes` of their bodies or `slotExportScanPositions` positions, or at the
    /// shard's position; `through` says where it stopped. A whole copy therefore reads each position of the shard once.
    public func exportSlots(
        _ slots: Set<Int>, slotCount: Int, after: Int64 = 0, maxEvents: Int? = nil
    ) async throws -> SlotData {
        try ShardStore.check(slots, slotCount: slotCount)
        let eventLimit = max(1, min(maxEvents ?? configuration.maxSlotExportEvents, configuration.maxSlotExportEvents))
        let scanLimit = configuration.slotExportScanPositions
        let byteLimit = configuration.slotExportBodyBytes
        return try await pool.read { db in
            let position = try ShardStore.position(db)
            var events: [SlotEvent] = []
            var keys: [String] = []
            var seen = Set<Identifier>()
            var through = position
            var scanned = 0
            var bodyBytes = 0
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT seq, \(StoredText.column("subject")), ingested_us, time_us, body FROM events
                    WHERE seq > ? AND seq <= ? ORDER BY seq
                    """, arguments: [after, position])
            while let row = try rows.next() {
                let seq: Int64 = row[0]
                let subject = StoredText.string(row[1])
                if slots.contains(SlotTable.slot(of: subject, slotCount: slotCount)) {
                    let body: String = row[4]
                    bodyBytes += body.utf8.count
                    events.append(
                        SlotEvent(
                            position: seq, ingested: Timestamp(micros: row[2]), time: Timestamp(micros: row[3]),
                            body: body))
                    if seen.insert(Identifier(subject)).inserted { keys.append(subject) }
                }
                scanned += 1
                if events.count >= eventLimit || scanned >= scanLimit || bodyBytes >= byteLimit {
                    through = seq
                    break
                }
            }
            var subjects: [SubjectRecord] = []
            for key in keys {
                guard
                    let row = try Row.fetchOne(
                        db, sql: "SELECT id, first_seen_us FROM subjects WHERE key = \(StoredText.parameter)",
                        arguments: [StoredText.argument(key)])
                else { continue }
                subjects.append(SubjectRecord(id: row[0], key: key, firstSeen: Timestamp(micros: row[1])))
            }
            return SlotData(
                slots: slots.sorted(), slotCount: slotCount, after: after, through: through, sourcePosition: position,
                subjects: subjects, events: events)
        }
    }

    /// Installs one piece of a slot copy another shard exported, as the copy named `cursor` (one per move and
    /// source): its customers (keeping their ids and first-seen times) and its events in their order, each at this
    /// shard's next position, remembered for de-duplication from the time the exporting shard received it; an event
    /// already here (same source, id and customer) is skipped. The events are aggregated like ingested ones, and the
    /// copy's progress is stored in the same transaction: a piece installed again adds nothing, and a piece that
    /// starts after the copy's progress is refused (`SlotDataError.gap`). Returns the events added. `merging` installs
    /// only what is missing here: an event whose (source, id, customer) is stored is skipped even when this shard
    /// received it at another instant (anti-entropy's merge of a replica into its owner).
    @discardableResult
    public func installSlots(_ data: SlotData, cursor: String, merging: Bool = false) async throws -> Int {
        try ShardStore.check(Set(data.slots), slotCount: data.slotCount)
        guard data.events.count <= configuration.maxSlotExportEvents else {
            throw SlotDataError.tooLarge(events: data.events.count, limit: configuration.maxSlotExportEvents)
        }
        guard pending.keyCount < configuration.maxPendingAggregateKeysBeforeRefusal else {
            flushIfDue()
            throw StoreError.aggregatesBehind
        }
        let slots = Set(data.slots)
        let (generation, meters) = meterSnapshot()
        var prepared: [(position: Int64, event: PreparedEvent)] = []
        var previous = data.after
        for event in data.events {
            guard event.position > previous, event.position <= data.through,
                let parsed = StoredEvent.decode(event.body, timeMicros: event.time.micros),
                slots.contains(SlotTable.slot(of: parsed.subject, slotCount: data.slotCount))
            else { throw SlotDataError.invalidEvent(position: event.position) }
            previous = event.position
            prepared.append((event.position, PreparedEvent(parsed, meters: meters, ingested: event.ingested)))
        }
        let subjects = data.subjects.filter { slots.contains(SlotTable.slot(of: $0.key, slotCount: data.slotCount)) }
        let events = prepared
        let effects = try await commit(
            { db -> IngestEffects in
                let copied =
                    try Int64.fetchOne(
                        db, sql: "SELECT through FROM slot_copies WHERE cursor = ?", arguments: [cursor]) ?? 0
                guard data.after <= copied else { throw SlotDataError.gap(copiedThrough: copied, after: data.after) }
                for subject in subjects {
                    try db.execute(
                        sql: ShardStore.insertSubjectSQL,
                        arguments: [StoredText.argument(subject.key), subject.id, subject.firstSeen.micros])
                }
                let batch = PreparedBatch(
                    meterGeneration: generation, events: events.filter { $0.position > copied }.map(\.event),
                    admission: Admission(check: nil), tellsReceiptsApart: !merging)
                let effects = try self.apply([batch], db: db, now: .now)
                if data.through > copied {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO slot_copies(cursor, through) VALUES (?, ?)",
                        arguments: [cursor, data.through])
                }
                return effects
            },
            then: { effects in self.publish(effects) })
        flushIfDue()
        return Int(clamping: effects.stored)
    }

    /// The source position through which the copy named `cursor` is installed here (0 before its first piece).
    public func copiedThrough(cursor: String) async throws -> Int64 {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT through FROM slot_copies WHERE cursor = ?", arguments: [cursor]) ?? 0
        }
    }

    /// Deletes everything `slots` hold here: their customers, raw events and de-dup entries, then rebuilds every
    /// meter's aggregates from the raw events that remain, in the background beside ingestion
    /// (`changeEventsAndRebuild`). The shard's position does not go back. Returns the events deleted.
    @discardableResult
    public func deleteSlots(_ slots: Set<Int>, slotCount: Int) async throws -> Int {
        try ShardStore.check(slots, slotCount: slotCount)
        // Nothing to delete (a delete repeated after a crash or a timeout): no rebuild.
        guard try await pool.read({ db in try !ShardStore.subjects(in: slots, slotCount: slotCount, db: db).isEmpty })
        else { return 0 }
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

    static func check(_ slots: Set<Int>, slotCount: Int) throws {
        guard slotCount >= 1 else { throw SlotDataError.invalidSlot(slotCount, slotCount: slotCount) }
        if let bad = slots.sorted().first(where: { !(0..<slotCount).contains($0) }) {
            throw SlotDataError.invalidSlot(bad, slotCount: slotCount)
        }
    }

    /// Stores a customer (key, id, first seen) unless it is stored, its key bound with every byte.
    private static let insertSubjectSQL =
        "INSERT OR IGNORE INTO subjects(key, id, first_seen_us) VALUES (\(StoredText.parameter), ?, ?)"

    /// The stored customers whose slot is in `slots`, by key: one scan of the subjects table.
    static func subjects(in slots: Set<Int>, slotCount: Int, db: Database) throws -> [SubjectRecord] {
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
