import Foundation
import GRDB
import TallyCore

extension ShardStore {
    /// The partial answer to `query` for `meter` from this shard, exact for any range: whole days, hours and minutes
    /// from the pre-aggregates where a window holds them (`QueryPlan`), the pending partials of events not flushed
    /// yet, and raw events for the partial minutes at a `from` or `to` that is not on a minute. A query that filters
    /// or groups by customer reads its whole minutes from raw events too (customers have no per-minute rows).
    /// `query.to` defaults to now. While the meter is back-filling (`MeterBuild`) it throws
    /// `StoreError.meterBuilding`, unless `allowPartial`: then it answers from the events counted so far.
    public func accumulate(
        meter: MeterDefinition, query: MeterQuery, calendar: WindowCalendar, allowPartial: Bool = false,
        into accumulator: inout QueryAccumulator
    ) async throws {
        if !allowPartial, let build = build(of: meter.id) {
            throw StoreError.meterBuilding(slug: meter.slug, progress: build.progress)
        }
        let to = query.to ?? .now
        let byCustomer = query.groupsBySubject
        let pendingParts = pending.parts(
            meterID: meter.id, subjects: query.subjects.isEmpty ? nil : Set(query.subjects.map { Identifier($0) }))
        let maxDistinct = configuration.maxDistinctValueEntries
        let planned = try await aggregates.read { db -> RawWork in
            var work = RawWork(accumulator: QueryAccumulator(meter: meter, query: query, calendar: calendar))
            let checkpoint = try ShardStore.aggregationCheckpoint(db)
            let parts = pendingParts.filter { $0.throughSeq > checkpoint }
            let number = try MeterNumbers.of(meter.id, db)
            guard let from = try query.from ?? ShardStore.firstMinute(of: number, pending: parts, db: db) else {
                return work
            }
            let whole = from.minuteCeiling..<Swift.max(from.minuteCeiling, to.minuteFloor)
            guard !whole.isEmpty else {
                work.ranges = from < to ? [from..<to] : []
                return work
            }
            let plan = QueryPlan(range: whole, windowSize: query.windowSize, calendar: calendar)
            work.ranges = [from..<whole.lowerBound]
            var stored: [Range<Timestamp>] = []
            for piece in plan.pieces {
                if byCustomer, piece.resolution == .minute {
                    work.minutes.append(piece.range)
                    continue
                }
                stored.append(piece.range)
                try ShardStore.add(
                    piece, meter: meter, number: number, query: query, byCustomer: byCustomer,
                    maxDistinct: maxDistinct, db: db, into: &work.accumulator)
            }
            work.ranges.append(whole.upperBound..<to)
            work.ranges.removeAll { $0.isEmpty }
            for part in parts { ShardStore.addPending(part.buffer, query: query, in: stored, into: &work.accumulator) }
            if query.from == nil, query.windowSize == nil, let earliest = work.accumulator.earliestTime,
                let piece = plan.pieces.first(where: { $0.range.contains(earliest) }), piece.resolution != .minute
            {
                // The first bucket with data is an hour or a day: find its first minute with data.
                let bucket = earliest..<Timestamp(micros: earliest.micros + piece.resolution.micros)
                guard !byCustomer else {
                    work.refine = bucket
                    return work
                }
                var exact = QueryAccumulator(meter: meter, query: query, calendar: calendar)
                try ShardStore.add(
                    QueryPlan.Piece(.minute, bucket), meter: meter, number: number, query: query, byCustomer: false,
                    maxDistinct: maxDistinct, db: db, into: &exact)
                for part in parts { ShardStore.addPending(part.buffer, query: query, in: [bucket], into: &exact) }
                if let first = exact.earliestTime { work.accumulator.refineEarliest(to: first) }
            }
            return work
        }
        var shard = planned.accumulator
        if !planned.ranges.isEmpty || !planned.minutes.isEmpty || planned.refine != nil {
            shard = try await pool.read { db in
                var local = planned.accumulator
                if let bucket = planned.refine {
                    var exact = QueryAccumulator(meter: meter, query: query, calendar: calendar)
                    try ShardStore.addRawEvents(
                        meter: meter, query: query, range: bucket, atMinute: true, db: db, into: &exact)
                    if let first = exact.earliestTime { local.refineEarliest(to: first) }
                }
                for range in planned.ranges {
                    try ShardStore.addRawEvents(
                        meter: meter, query: query, range: range, atMinute: false, db: db, into: &local)
                }
                for range in planned.minutes {
                    try ShardStore.addRawEvents(
                        meter: meter, query: query, range: range, atMinute: true, db: db, into: &local)
                }
                return local
            }
        }
        accumulator.merge(shard)
    }

    /// What the aggregates answered, and what is left for raw events: the partial minutes at unaligned ends (events
    /// at their time), whole minutes by customer (events at their minute, as a per-minute row would place them), and
    /// the first bucket with data, whose first event starts an unwindowed query by customer without `from`.
    private struct RawWork: Sendable {
        var accumulator: QueryAccumulator
        var ranges: [Range<Timestamp>] = []
        var minutes: [Range<Timestamp>] = []
        var refine: Range<Timestamp>?
    }

    static func aggregationCheckpoint(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT through_seq FROM aggregation_state WHERE id = 1") ?? 0
    }

    /// The first minute holding any aggregated (under meter `number`) or pending event; nil when there is none.
    private static func firstMinute(
        of number: Int64?, pending: [PendingAggregates.Part], db: Database
    ) throws -> Timestamp? {
        let stored = try number.flatMap { number in
            try Int64.fetchOne(
                db, sql: "SELECT min(bucket_us) FROM total_agg WHERE meter = ? AND resolution = ?",
                arguments: [number, Resolution.minute.micros])
        }
        let minutes = pending.compactMap { part in part.buffer.partials.keys.lazy.map(\.minute).min() }
        return (minutes + (stored.map { [$0] } ?? [])).min().map { Timestamp(micros: $0) }
    }

    /// Adds the stored buckets of one piece of a plan: by customer (hours and days) when the query filters or groups
    /// by customer, over all customers otherwise.
    private static func add(
        _ piece: QueryPlan.Piece, meter: MeterDefinition, number: Int64?, query: MeterQuery, byCustomer: Bool,
        maxDistinct: Int, db: Database, into accumulator: inout QueryAccumulator
    ) throws {
        var groupCache: [String: [String: String?]] = [:]
        try BucketTable.of(piece.resolution, bySubject: byCustomer).read(
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

    /// Adds pending (not yet flushed) partials of the whole minutes in `ranges`.
    private static func addPending(
        _ buffer: AggregateBuffer, query: MeterQuery, in ranges: [Range<Timestamp>],
        into accumulator: inout QueryAccumulator
    ) {
        var groupCache: [Identifier: [String: String?]] = [:]
        for (key, partial) in buffer.partials {
            let minute = Timestamp(micros: key.minute)
            guard ranges.contains(where: { $0.contains(minute) }) else { continue }
            let groups = groupCache[key.groupKey] ?? GroupKey.decode(key.groupKey.text)
            groupCache[key.groupKey] = groups
            accumulator.add(time: minute, subject: key.subject.text, groupValues: groups, partial: partial)
        }
    }

    private static func addRawEvents(
        meter: MeterDefinition, query: MeterQuery, range: Range<Timestamp>, atMinute: Bool, db: Database,
        into accumulator: inout QueryAccumulator
    ) throws {
        let lower = max(range.lowerBound.micros, meter.eventFrom?.micros ?? Int64.min)
        // One customer's events come through `events_subject_time`, every customer's through `events_time`.
        let subjects =
            query.subjects.isEmpty ? [nil] : Set(query.subjects.map { Identifier($0) }).map { Optional($0.text) }
        for subject in subjects {
            var arguments: StatementArguments = [StoredText.argument(meter.eventType), lower, range.upperBound.micros]
            if let subject { arguments += [StoredText.argument(subject)] }
            let bySubject = subject == nil ? "" : " AND subject = \(StoredText.parameter)"
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT body, time_us FROM events\(subject == nil ? "" : " INDEXED BY events_subject_time")
                    WHERE type = \(StoredText.parameter) AND time_us >= ? AND time_us < ?\(bySubject)
                    """, arguments: arguments)
            try addSamples(of: rows, meter: meter, atMinute: atMinute, into: &accumulator)
        }
    }

    private static func addSamples(
        of rows: RowCursor, meter: MeterDefinition, atMinute: Bool, into accumulator: inout QueryAccumulator
    ) throws {
        while let row = try rows.next() {
            guard let (event, sample) = StoredEvent.sampled(row[0], timeMicros: row[1], by: meter) else { continue }
            var partial = PartialAggregate()
            partial.add(sample, at: event.time)
            accumulator.add(
                time: atMinute ? event.time.minuteFloor : event.time, subject: event.subject,
                groupValues: sample.groupValues, partial: partial)
        }
    }
}
