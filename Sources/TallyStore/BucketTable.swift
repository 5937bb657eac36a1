import Foundation
import GRDB
import TallyCore

/// One table of pre-aggregated buckets and its table of distinct values: per-minute rows by customer
/// (`minute_agg`), hourly and daily rows by customer (`rollup_agg`) or over all customers (`total_agg`).
struct BucketTable: Sendable {
    var aggregates: String
    var uniques: String
    var timeColumn: String
    /// The value of the `resolution` column to read; nil for a table of one resolution.
    var resolution: Resolution?
    var hasSubject: Bool

    static let minutes = BucketTable(
        aggregates: "minute_agg", uniques: "minute_unique", timeColumn: "minute_us", resolution: nil, hasSubject: true)

    /// Hourly or daily buckets, by customer or over all of them.
    static func rollups(_ resolution: Resolution, bySubject: Bool) -> BucketTable {
        bySubject
            ? BucketTable(
                aggregates: "rollup_agg", uniques: "rollup_unique", timeColumn: "bucket_us", resolution: resolution,
                hasSubject: true)
            : BucketTable(
                aggregates: "total_agg", uniques: "total_unique", timeColumn: "bucket_us", resolution: resolution,
                hasSubject: false)
    }

    /// One stored bucket.
    struct Row {
        var start: Timestamp
        /// The customer; empty in a table over all customers.
        var subject: String
        var groupKey: String
        var partial: PartialAggregate
    }

    /// Calls `body` with every bucket of `meter` (stored under `number`, see `MeterNumbers`; nil: nothing stored)
    /// starting in `range` (of `subjects`, when given). UNIQUE_COUNT meters read at most `maxDistinct` distinct-value
    /// entries (`QueryTooLarge` beyond).
    func read(
        meter: MeterDefinition, number: Int64?, range: Range<Timestamp>, subjects: [String], maxDistinct: Int,
        db: Database, _ body: (Row) throws -> Void
    ) throws {
        guard let number else { return }
        var arguments: StatementArguments = [number]
        var filter = ""
        if let resolution {
            filter += " AND resolution = ?"
            arguments += [resolution.micros]
        }
        filter += " AND \(timeColumn) >= ? AND \(timeColumn) < ?"
        arguments += [range.lowerBound.micros, range.upperBound.micros]
        if hasSubject, !subjects.isEmpty {
            filter += " AND subject IN (\(Array(repeating: "?", count: subjects.count).joined(separator: ",")))"
            arguments += StatementArguments(subjects)
        }
        let subjectColumn = hasSubject ? "subject" : "''"
        var uniques: [UniqueKey: Set<Identifier>] = [:]
        if meter.aggregation == .uniqueCount {
            let rows = try GRDB.Row.fetchCursor(
                db,
                sql: """
                    SELECT \(timeColumn), \(subjectColumn), group_key, value FROM \(self.uniques)
                    WHERE meter = ?\(filter)
                    """, arguments: arguments)
            var entries = 0
            while let row = try rows.next() {
                entries += 1
                guard entries <= maxDistinct else { throw QueryTooLarge(meterSlug: meter.slug, limit: maxDistinct) }
                let key = UniqueKey(start: row[0], subject: Identifier(row[1] as String), groupKey: Identifier(row[2]))
                uniques[key, default: []].insert(Identifier(row[3] as String))
            }
        }
        let rows = try GRDB.Row.fetchCursor(
            db,
            sql: """
                SELECT \(timeColumn), \(subjectColumn), group_key, count, sum, min, max, latest_us, latest_value
                FROM \(aggregates) WHERE meter = ?\(filter)
                """, arguments: arguments)
        while let row = try rows.next() {
            let start: Int64 = row[0]
            let subject: String = row[1]
            let groupKey: String = row[2]
            var latest: LatestValue?
            if let latestMicros: Int64 = row[7], let value = AggregateBuffer.amount(row[8]) {
                latest = LatestValue(time: Timestamp(micros: latestMicros), value: value)
            }
            let sum = AggregateBuffer.amount(row[4])
            let key = UniqueKey(start: start, subject: Identifier(subject), groupKey: Identifier(groupKey))
            let partial = PartialAggregate(
                count: row[3], sum: sum ?? .zero, min: AggregateBuffer.amount(row[5]),
                max: AggregateBuffer.amount(row[6]), latest: latest, uniques: uniques[key] ?? [],
                overflowed: sum == nil)
            try body(Row(start: Timestamp(micros: start), subject: subject, groupKey: groupKey, partial: partial))
        }
    }

    private struct UniqueKey: Hashable {
        var start: Int64
        var subject: Identifier
        var groupKey: Identifier
    }
}
