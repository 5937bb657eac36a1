import Foundation
import GRDB
import TallyCore

extension ShardStore {
    /// The partial answer to `query` for `meter` from this shard: whole minutes from the per-minute
    /// pre-aggregates, and the partial minutes at a non-aligned `from` or `to` from raw events, so the
    /// answer is exact for any range. `query.to` must be set (callers default it to now).
    public func accumulate(
        meter: MeterDefinition, query: MeterQuery, calendar: WindowCalendar, into accumulator: inout QueryAccumulator
    ) async throws {
        let to = query.to ?? .now
        let from = query.from
        let wholeStart = from?.minuteCeiling ?? Timestamp(micros: Int64.min)
        let wholeEnd = to.minuteFloor
        let pendingParts = pending.parts(meterID: meter.id)
        let maxDistinct = configuration.maxDistinctValueEntries
        let shard = try await pool.read { db -> QueryAccumulator in
            var local = QueryAccumulator(meter: meter, query: query, calendar: calendar)
            if wholeStart < wholeEnd {
                try ShardStore.addMinutes(
                    meter: meter, query: query, range: wholeStart..<wholeEnd, maxDistinct: maxDistinct, db: db,
                    into: &local)
                let checkpoint = try ShardStore.aggregationCheckpoint(db)
                for part in pendingParts where part.throughSeq > checkpoint {
                    ShardStore.addPending(part.buffer, query: query, range: wholeStart..<wholeEnd, into: &local)
                }
                if let from, from < wholeStart {
                    try ShardStore.addRawEvents(
                        meter: meter, query: query, range: from..<wholeStart, db: db, into: &local)
                }
                if wholeEnd < to {
                    try ShardStore.addRawEvents(meter: meter, query: query, range: wholeEnd..<to, db: db, into: &local)
                }
            } else if let from, from < to {
                try ShardStore.addRawEvents(meter: meter, query: query, range: from..<to, db: db, into: &local)
            }
            return local
        }
        accumulator.merge(shard)
    }

    static func aggregationCheckpoint(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT through_seq FROM aggregation_state WHERE id = 1") ?? 0
    }

    /// Adds pending (not yet flushed) partials of whole minutes in `range`.
    private static func addPending(
        _ buffer: AggregateBuffer, query: MeterQuery, range: Range<Timestamp>, into accumulator: inout QueryAccumulator
    ) {
        var groupCache: [Identifier: [String: String?]] = [:]
        for (key, partial) in buffer.partials where range.contains(Timestamp(micros: key.minute)) {
            let groups = groupCache[key.groupKey] ?? GroupKey.decode(key.groupKey.text)
            groupCache[key.groupKey] = groups
            accumulator.add(
                time: Timestamp(micros: key.minute), subject: key.subject.text, groupValues: groups, partial: partial)
        }
    }

    private static func subjectClause(_ query: MeterQuery, arguments: inout StatementArguments) -> String {
        guard !query.subjects.isEmpty else { return "" }
        arguments += StatementArguments(query.subjects)
        return " AND subject IN (\(Array(repeating: "?", count: query.subjects.count).joined(separator: ",")))"
    }

    private static func addMinutes(
        meter: MeterDefinition, query: MeterQuery, range: Range<Timestamp>, maxDistinct: Int, db: Database,
        into accumulator: inout QueryAccumulator
    ) throws {
        var arguments: StatementArguments = [meter.id, range.lowerBound.micros, range.upperBound.micros]
        let filter = subjectClause(query, arguments: &arguments)
        var uniques: [AggregateBuffer.Key: Set<Identifier>] = [:]
        if meter.aggregation == .uniqueCount {
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT minute_us, subject, group_key, value FROM minute_unique
                    WHERE meter_id = ? AND minute_us >= ? AND minute_us < ?\(filter)
                    """, arguments: arguments)
            var entries = 0
            while let row = try rows.next() {
                entries += 1
                guard entries <= maxDistinct else {
                    throw QueryTooLarge(meterSlug: meter.slug, limit: maxDistinct)
                }
                let key = AggregateBuffer.Key(
                    meterID: meter.id, minute: row[0], subject: Identifier(row[1]),
                    groupKey: Identifier(row[2]))
                uniques[key, default: []].insert(Identifier(row[3]))
            }
        }
        var groupCache: [Identifier: [String: String?]] = [:]
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT minute_us, subject, group_key, count, sum, min, max, latest_us, latest_value FROM minute_agg
                WHERE meter_id = ? AND minute_us >= ? AND minute_us < ?\(filter)
                """, arguments: arguments)
        while let row = try rows.next() {
            let minute: Int64 = row[0]
            let subject: String = row[1]
            let groupKey: String = row[2]
            let latestMicros: Int64? = row[7]
            var latest: LatestValue?
            if let latestMicros, let value = AggregateBuffer.amount(row[8]) {
                latest = LatestValue(time: Timestamp(micros: latestMicros), value: value)
            }
            let key = AggregateBuffer.Key(
                meterID: meter.id, minute: minute, subject: Identifier(subject),
                groupKey: Identifier(groupKey))
            let sum = AggregateBuffer.amount(row[4])
            let partial = PartialAggregate(
                count: row[3], sum: sum ?? .zero,
                min: AggregateBuffer.amount(row[5]), max: AggregateBuffer.amount(row[6]),
                latest: latest, uniques: uniques[key] ?? [], overflowed: sum == nil)
            let groups: [String: String?]
            if let cached = groupCache[key.groupKey] {
                groups = cached
            } else {
                groups = GroupKey.decode(groupKey)
                groupCache[key.groupKey] = groups
            }
            accumulator.add(time: Timestamp(micros: minute), subject: subject, groupValues: groups, partial: partial)
        }
    }

    private static func addRawEvents(
        meter: MeterDefinition, query: MeterQuery, range: Range<Timestamp>, db: Database,
        into accumulator: inout QueryAccumulator
    ) throws {
        let lower = max(range.lowerBound.micros, meter.eventFrom?.micros ?? Int64.min)
        var arguments: StatementArguments = [meter.eventType, lower, range.upperBound.micros]
        let filter = subjectClause(query, arguments: &arguments)
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT body, time_us FROM events WHERE type = ? AND time_us >= ? AND time_us < ?\(filter)
                """, arguments: arguments)
        while let row = try rows.next() {
            guard let event = StoredEvent.decode(row[0], timeMicros: row[1]), meter.matches(event),
                case .success(let sample) = meter.sample(event)
            else { continue }
            var partial = PartialAggregate()
            partial.add(sample, at: event.time)
            accumulator.add(time: event.time, subject: event.subject, groupValues: sample.groupValues, partial: partial)
        }
    }
}
