import Foundation
import GRDB
import TallyCore

extension ShardStore {
    /// The partial answer to `query` for `meter` from this shard, exact for any range: whole days and hours from
    /// the rollups where a window holds them (`QueryPlan`), whole minutes from `minute_agg` at window edges, the
    /// pending partials of events not flushed yet, and raw events for the partial minutes at a `from` or `to` that
    /// is not on a minute. `query.to` defaults to now.
    public func accumulate(
        meter: MeterDefinition, query: MeterQuery, calendar: WindowCalendar, into accumulator: inout QueryAccumulator
    ) async throws {
        let to = query.to ?? .now
        let pendingParts = pending.parts(
            meterID: meter.id, subjects: query.subjects.isEmpty ? nil : Set(query.subjects.map { Identifier($0) }))
        let maxDistinct = configuration.maxDistinctValueEntries
        let plan = try await aggregates.read { db -> (QueryAccumulator, [Range<Timestamp>]) in
            var local = QueryAccumulator(meter: meter, query: query, calendar: calendar)
            let checkpoint = try ShardStore.aggregationCheckpoint(db)
            let parts = pendingParts.filter { $0.throughSeq > checkpoint }
            let number = try MeterNumbers.of(meter.id, db)
            guard let from = try query.from ?? ShardStore.firstMinute(of: number, pending: parts, db: db) else {
                return (local, [])
            }
            let whole = from.minuteCeiling..<Swift.max(from.minuteCeiling, to.minuteFloor)
            guard !whole.isEmpty else { return (local, from < to ? [from..<to] : []) }
            let plan = QueryPlan(range: whole, windowSize: query.windowSize, calendar: calendar)
            for piece in plan.pieces {
                try ShardStore.add(
                    piece, meter: meter, number: number, query: query, maxDistinct: maxDistinct, db: db, into: &local)
            }
            for part in parts { ShardStore.addPending(part.buffer, query: query, range: whole, into: &local) }
            if query.from == nil, query.windowSize == nil, let earliest = local.earliestTime,
                let piece = plan.pieces.first(where: { $0.range.contains(earliest) }), piece.resolution != .minute
            {
                let bucket = earliest..<Timestamp(micros: earliest.micros + piece.resolution.micros)
                var exact = QueryAccumulator(meter: meter, query: query, calendar: calendar)
                try ShardStore.add(
                    QueryPlan.Piece(.minute, bucket), meter: meter, number: number, query: query,
                    maxDistinct: maxDistinct, db: db, into: &exact)
                for part in parts { ShardStore.addPending(part.buffer, query: query, range: bucket, into: &exact) }
                if let first = exact.earliestTime { local.refineEarliest(to: first) }
            }
            return (local, [from..<whole.lowerBound, whole.upperBound..<to].filter { !$0.isEmpty })
        }
        let (fromAggregates, rawRanges) = plan
        var shard = fromAggregates
        if !rawRanges.isEmpty {
            shard = try await pool.read { db in
                var local = fromAggregates
                for range in rawRanges {
                    try ShardStore.addRawEvents(meter: meter, query: query, range: range, db: db, into: &local)
                }
                return local
            }
        }
        accumulator.merge(shard)
    }

    static func aggregationCheckpoint(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT through_seq FROM aggregation_state WHERE id = 1") ?? 0
    }

    /// The first minute holding any aggregated (under meter `number`) or pending event; nil when there is none.
    private static func firstMinute(
        of number: Int64?, pending: [PendingAggregates.Part], db: Database
    ) throws -> Timestamp? {
        let stored = try number.flatMap { number in
            try Int64.fetchOne(db, sql: "SELECT min(minute_us) FROM minute_agg WHERE meter = ?", arguments: [number])
        }
        let minutes = pending.compactMap { part in part.buffer.partials.keys.lazy.map(\.minute).min() }
        return (minutes + (stored.map { [$0] } ?? [])).min().map { Timestamp(micros: $0) }
    }

    /// Adds the stored buckets of one piece of a plan: minutes by customer, or hours and days by customer when the
    /// query filters or groups by customer and over all customers otherwise.
    private static func add(
        _ piece: QueryPlan.Piece, meter: MeterDefinition, number: Int64?, query: MeterQuery, maxDistinct: Int,
        db: Database, into accumulator: inout QueryAccumulator
    ) throws {
        let table =
            piece.resolution == .minute
            ? BucketTable.minutes : BucketTable.rollups(piece.resolution, bySubject: query.groupsBySubject)
        var groupCache: [String: [String: String?]] = [:]
        try table.read(
            meter: meter, number: number, range: piece.range, subjects: query.subjects, maxDistinct: maxDistinct, db: db
        ) { row in
            let groups: [String: String?]
            if let cached = groupCache[row.groupKey] {
                groups = cached
            } else {
                groups = GroupKey.decode(row.groupKey)
                groupCache[row.groupKey] = groups
            }
            accumulator.add(time: row.start, subject: row.subject, groupValues: groups, partial: row.partial)
        }
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

    private static func addRawEvents(
        meter: MeterDefinition, query: MeterQuery, range: Range<Timestamp>, db: Database,
        into accumulator: inout QueryAccumulator
    ) throws {
        let lower = max(range.lowerBound.micros, meter.eventFrom?.micros ?? Int64.min)
        var arguments: StatementArguments = [meter.eventType, lower, range.upperBound.micros]
        var filter = ""
        if !query.subjects.isEmpty {
            arguments += StatementArguments(query.subjects)
            filter = " AND subject IN (\(Array(repeating: "?", count: query.subjects.count).joined(separator: ",")))"
        }
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
