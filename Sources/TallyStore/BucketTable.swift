import Foundation
import GRDB
import TallyCore

/// One resolution of pre-aggregated buckets and its distinct values: hourly and daily rows by customer (`rollup_agg`)
/// or minute, hourly and daily rows over all customers (`total_agg`).
struct BucketTable: Sendable {
    var aggregates: String
    var uniques: String
    var resolution: Resolution
    var hasSubject: Bool

    /// Buckets of `resolution`, by customer (hours and days only) or over all customers.
    static func of(_ resolution: Resolution, bySubject: Bool) -> BucketTable {
        precondition(!bySubject || RollupBuffer.customerResolutions.contains(resolution))
        return bySubject
            ? BucketTable(aggregates: "rollup_agg", uniques: "rollup_unique", resolution: resolution, hasSubject: true)
            : BucketTable(aggregates: "total_agg", uniques: "total_unique", resolution: resolution, hasSubject: false)
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
        var distinct = DistinctBudget(meterSlug: meter.slug, limit: maxDistinct)
        var arguments: StatementArguments = [
            number, resolution.micros, range.lowerBound.micros, range.upperBound.micros,
        ]
        guard hasSubject, !subjects.isEmpty else {
            try scan(
                meter: meter, index: nil, filter: "bucket_us >= ? AND bucket_us < ?", arguments: arguments, db: db,
                distinct: &distinct, body)
            return
        }
        // Named customers are read through the customer-first index.
        let named = Set(subjects.map { Identifier($0) }).map(\.text)
        arguments += StatementArguments(named.map(StoredText.argument))
        try scan(
            meter: meter, index: "_by_subject",
            filter: "bucket_us >= ? AND bucket_us < ? AND subject IN (\(StoredText.parameters(named.count)))",
            arguments: arguments, db: db, distinct: &distinct, body)
    }

    /// Reads the rows of `meter = ? AND resolution = ? AND filter` (through the tables' index whose name ends with
    /// `index`, when given), with their distinct values.
    private func scan(
        meter: MeterDefinition, index: String?, filter: String, arguments: StatementArguments, db: Database,
        distinct: inout DistinctBudget, _ body: (Row) throws -> Void
    ) throws {
        let subjectColumn = hasSubject ? StoredText.column("subject") : "''"
        let groupColumn = StoredText.column("group_key")
        let condition = "meter = ? AND resolution = ? AND \(filter)"
        var uniques: [UniqueKey: Set<Identifier>] = [:]
        if meter.aggregation == .uniqueCount {
            let rows = try GRDB.Row.fetchCursor(
                db,
                sql: """
                    SELECT bucket_us, \(subjectColumn), \(groupColumn), \(StoredText.column("value"))
                    FROM \(self.uniques)\(
                        index.map { " INDEXED BY \(self.uniques)\($0)" } ?? "") WHERE \(condition)
                    """, arguments: arguments)
            while let row = try rows.next() {
                try distinct.take()
                let key = UniqueKey(
                    start: row[0], subject: Identifier(StoredText.string(row[1])),
                    groupKey: Identifier(StoredText.string(row[2])))
                uniques[key, default: []].insert(Identifier(StoredText.string(row[3])))
            }
        }
        let rows = try GRDB.Row.fetchCursor(
            db,
            sql: """
                SELECT bucket_us, \(subjectColumn), \(groupColumn), count, sum, min, max, latest_us, latest_value
                FROM \(aggregates)\(index.map { " INDEXED BY \(aggregates)\($0)" } ?? "") WHERE \(condition)
                """, arguments: arguments)
        while let row = try rows.next() {
            let start: Int64 = row[0]
            let subject = StoredText.string(row[1])
            let groupKey = StoredText.string(row[2])
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

    /// The distinct-value entries one read may still take.
    private struct DistinctBudget {
        var meterSlug: String
        var limit: Int
        var taken = 0

        mutating func take() throws {
            guard taken < limit else { throw QueryTooLarge(meterSlug: meterSlug, limit: limit) }
            taken += 1
        }
    }

    private struct UniqueKey: Hashable {
        var start: Int64
        var subject: Identifier
        var groupKey: Identifier
    }
}
