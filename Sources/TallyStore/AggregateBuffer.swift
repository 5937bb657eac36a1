import Foundation
import GRDB
import TallyCore

/// Per-minute partial aggregates by customer gathered in memory, then merged into the rows by customer per hour and
/// day (`rollup_agg`) and over all customers per minute, hour and day (`total_agg`). Customers have no per-minute
/// rows: their queries read raw events inside an hour. A buffer is built per batch on the request's thread, so the
/// single writer only appends it to the pending list.
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
        guard !partials.isEmpty else {
            partials = other.partials
            return
        }
        for (key, partial) in other.partials { partials[key, default: PartialAggregate()].merge(partial) }
    }

    mutating func removeMeter(_ meterID: String) {
        partials = partials.filter { $0.key.meterID != meterID }
    }

    /// The partials of one meter (of some customers only, when `subjects` is given).
    func only(meterID: String, subjects: Set<Identifier>? = nil) -> AggregateBuffer {
        var copy = AggregateBuffer()
        copy.partials = partials.filter { entry in
            entry.key.meterID == meterID && subjects.map { $0.contains(entry.key.subject) } ?? true
        }
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

    /// Merges everything gathered into the aggregate tables (`RollupBuffer`) and empties the buffer.
    mutating func flush(_ db: Database) throws {
        let numbers = try MeterNumbers.all(db)
        var rollups = RollupBuffer()
        for (key, partial) in partials {
            // Partials of a meter that is not saved (only possible for one dropped meanwhile) count nowhere.
            guard let meter = numbers[key.meterID] else { continue }
            rollups.add(partial, of: key, meter: meter)
        }
        try rollups.flush(db)
        partials.removeAll(keepingCapacity: true)
    }

    /// An upsert into `table` whose key is `keys`, followed by the seven value columns, merging on conflict.
    static func upsertSQL(table: String, keys: [String]) -> String {
        let columns = keys + ["count", "sum", "min", "max", "latest_us", "latest_value"]
        return """
            INSERT INTO \(table)(\(columns.joined(separator: ", ")))
            VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))
            ON CONFLICT(\(keys.joined(separator: ", "))) DO UPDATE SET
                count = count + excluded.count,
                sum = tally_add(sum, excluded.sum),
                min = coalesce(min(min, excluded.min), min, excluded.min),
                max = coalesce(max(max, excluded.max), max, excluded.max),
                latest_us = CASE
                    WHEN latest_us IS NULL OR (excluded.latest_us, excluded.latest_value) > (latest_us, latest_value)
                    THEN excluded.latest_us ELSE latest_us END,
                latest_value = CASE
                    WHEN latest_us IS NULL OR (excluded.latest_us, excluded.latest_value) > (latest_us, latest_value)
                    THEN excluded.latest_value ELSE latest_value END
            """
    }

    /// The six value columns of a partial, in `upsertSQL`'s order (the `sum` is the empty blob once count or sum
    /// overflowed).
    static func values(_ partial: PartialAggregate) -> [FastStatement.Value] {
        [
            .integer(partial.count), partial.overflowed ? .blob([]) : .amount(partial.sum),
            partial.min.map { .amount($0) } ?? .null, partial.max.map { .amount($0) } ?? .null,
            partial.latest.map { .integer($0.time.micros) } ?? .null, partial.latest.map { .amount($0.value) } ?? .null,
        ]
    }

    static func blob(_ amount: Amount) -> Data { Data(amount.sortableBytes) }

    static func amount(_ blob: Data?) -> Amount? { blob.flatMap { Amount(sortableBytes: $0) } }

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
