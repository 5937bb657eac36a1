import Foundation
import GRDB
import TallyCore

/// Per-minute partial aggregates gathered in memory, then merged into `minute_agg` /
/// `minute_unique` with one upsert per distinct key.
struct AggregateBuffer: Sendable {
    /// Subjects and group keys are compared by their bytes, as SQLite compares them.
    struct Key: Hashable, Sendable {
        var meterID: String
        var minute: Int64
        var subject: Identifier
        var groupKey: Identifier
    }

    private(set) var partials: [Key: PartialAggregate] = [:]

    var isEmpty: Bool { partials.isEmpty }
    var count: Int { partials.count }

    /// Folds another buffer into this one.
    mutating func merge(_ other: AggregateBuffer) {
        for (key, partial) in other.partials { partials[key, default: PartialAggregate()].merge(partial) }
    }

    mutating func removeMeter(_ meterID: String) {
        partials = partials.filter { $0.key.meterID != meterID }
    }

    /// The partials of one meter.
    func only(meterID: String) -> AggregateBuffer {
        var copy = AggregateBuffer()
        copy.partials = partials.filter { $0.key.meterID == meterID }
        return copy
    }

    /// Counts the samples of `event`.
    mutating func add(_ samples: [PreparedSample], of event: CloudEvent) {
        let minute = event.time.minuteFloor.micros
        for prepared in samples {
            let key = Key(
                meterID: prepared.meterID, minute: minute, subject: Identifier(event.subject),
                groupKey: Identifier(prepared.sample.groupKey))
            partials[key, default: PartialAggregate()].add(prepared.sample, at: event.time)
        }
    }

    /// Merges everything gathered into the tables and empties the buffer.
    mutating func flush(_ db: Database) throws {
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO minute_agg(
                    meter_id, minute_us, subject, group_key, count, sum, min, max, latest_us, latest_value)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(meter_id, minute_us, subject, group_key) DO UPDATE SET
                    count = count + excluded.count,
                    sum = tally_add(sum, excluded.sum),
                    min = coalesce(min(min, excluded.min), min, excluded.min),
                    max = coalesce(max(max, excluded.max), max, excluded.max),
                    latest_us = CASE
                        WHEN latest_us IS NULL
                            OR (excluded.latest_us, excluded.latest_value) > (latest_us, latest_value)
                        THEN excluded.latest_us ELSE latest_us END,
                    latest_value = CASE
                        WHEN latest_us IS NULL
                            OR (excluded.latest_us, excluded.latest_value) > (latest_us, latest_value)
                        THEN excluded.latest_value ELSE latest_value END
                """)
        let insertUnique = try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO minute_unique(meter_id, minute_us, subject, group_key, value)
                VALUES (?, ?, ?, ?, ?)
                """)
        for (key, partial) in partials {
            try upsert.execute(arguments: [
                key.meterID, key.minute, key.subject.text, key.groupKey.text, partial.count,
                AggregateBuffer.sumBlob(partial),
                partial.min.map(AggregateBuffer.blob), partial.max.map(AggregateBuffer.blob),
                partial.latest?.time.micros, partial.latest.map { AggregateBuffer.blob($0.value) },
            ])
            for value in partial.uniques {
                try insertUnique.execute(arguments: [
                    key.meterID, key.minute, key.subject.text, key.groupKey.text, value.text,
                ])
            }
        }
        partials.removeAll(keepingCapacity: true)
    }

    static func blob(_ amount: Amount) -> Data { Data(amount.sortableBytes) }

    static func amount(_ blob: Data?) -> Amount? { blob.flatMap { Amount(sortableBytes: $0) } }

    /// The stored `sum` of a partial: its 16 sortable bytes, or the empty blob once count or sum overflowed.
    static func sumBlob(_ partial: PartialAggregate) -> Data { partial.overflowed ? Data() : blob(partial.sum) }

    /// `tally_add(a, b)`: exact, checked sum of two `sum` blobs, registered on every connection. The empty blob
    /// (overflowed) absorbs everything, and a sum that does not fit becomes it.
    static let addFunction = DatabaseFunction("tally_add", argumentCount: 2, pure: true) { values in
        guard let lhs = amount(Data.fromDatabaseValue(values[0])), let rhs = amount(Data.fromDatabaseValue(values[1])),
            let sum = lhs.adding(rhs)
        else {
            return Data()
        }
        return blob(sum)
    }
}
