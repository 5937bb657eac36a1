import GRDB
import TallyCore

/// Buckets gathered from per-minute partials: hourly and daily by customer (`rollup_agg`), and per minute, hour and
/// day over all customers (`total_agg`), merged into their tables in one transaction, so every resolution always
/// holds the same events. Customers have no per-minute rows: their queries read raw events inside an hour (through
/// `events_subject_time`), which costs ingestion less than a row per customer, minute and meter.
struct RollupBuffer {
    struct Key: Hashable {
        /// The meter's number (`MeterNumbers`).
        var meter: Int64
        var resolution: Resolution
        var bucket: Int64
        /// nil for the bucket over all customers.
        var subject: Identifier?
        var groupKey: Identifier
    }

    /// Resolutions stored by customer.
    static let customerResolutions: [Resolution] = [.hour, .day]

    private(set) var partials: [Key: PartialAggregate] = [:]

    /// Adds one customer's minute to its hour and day, and to the minute, hour and day over all customers.
    mutating func add(_ partial: PartialAggregate, of minute: AggregateBuffer.Key, meter: Int64) {
        for resolution in Resolution.allCases {
            let bucket = resolution.floor(Timestamp(micros: minute.minute)).micros
            let subjects = RollupBuffer.customerResolutions.contains(resolution) ? [minute.subject, nil] : [nil]
            for subject in subjects {
                let key = Key(
                    meter: meter, resolution: resolution, bucket: bucket, subject: subject, groupKey: minute.groupKey)
                partials[key, default: PartialAggregate()].merge(partial)
            }
        }
    }

    /// Merges everything gathered into the bucket tables and empties the buffer.
    mutating func flush(_ db: Database) throws {
        let bySubject = FastStatement(
            statement: try db.cachedStatement(
                sql: AggregateBuffer.upsertSQL(
                    table: "rollup_agg", keys: ["meter", "resolution", "bucket_us", "subject", "group_key"])))
        let total = FastStatement(
            statement: try db.cachedStatement(
                sql: AggregateBuffer.upsertSQL(
                    table: "total_agg", keys: ["meter", "resolution", "bucket_us", "group_key"])))
        let uniqueBySubject = FastStatement(
            statement: try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO rollup_unique(meter, resolution, bucket_us, subject, group_key, value)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """))
        let uniqueTotal = FastStatement(
            statement: try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO total_unique(meter, resolution, bucket_us, group_key, value)
                    VALUES (?, ?, ?, ?, ?)
                    """))
        for (key, partial) in partials {
            let head: [FastStatement.Value] = [
                .integer(key.meter), .integer(key.resolution.micros), .integer(key.bucket),
            ]
            let subject: [FastStatement.Value] = key.subject.map { [.text($0.text)] } ?? []
            let group: FastStatement.Value = .text(key.groupKey.text)
            try (key.subject == nil ? total : bySubject).run(head + subject + [group] + AggregateBuffer.values(partial))
            for value in partial.uniques {
                try (key.subject == nil ? uniqueTotal : uniqueBySubject).run(
                    head + subject + [group, .text(value.text)])
            }
        }
        partials.removeAll(keepingCapacity: true)
    }
}
