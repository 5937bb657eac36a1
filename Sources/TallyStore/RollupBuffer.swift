import GRDB
import TallyCore

/// Hourly and daily partials, by customer (`rollup_agg`) and over all customers (`total_agg`), gathered from
/// per-minute partials and merged into their tables in the same transaction as the minutes, so every resolution
/// always holds the same events.
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

    static let resolutions: [Resolution] = [.hour, .day]

    private(set) var partials: [Key: PartialAggregate] = [:]

    /// Adds one minute's partial to its hour and day, by customer and over all customers.
    mutating func add(_ partial: PartialAggregate, of minute: AggregateBuffer.Key, meter: Int64) {
        for resolution in RollupBuffer.resolutions {
            let bucket = resolution.floor(Timestamp(micros: minute.minute)).micros
            for subject in [minute.subject, nil] {
                let key = Key(
                    meter: meter, resolution: resolution, bucket: bucket, subject: subject,
                    groupKey: minute.groupKey)
                partials[key, default: PartialAggregate()].merge(partial)
            }
        }
    }

    /// Merges everything gathered into the rollup tables and empties the buffer.
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
