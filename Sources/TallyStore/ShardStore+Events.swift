import GRDB
import TallyCore

/// Filters of `GET /api/v1/events` (upstream `listEvents`).
public struct EventFilter: Sendable {
    /// Most events one listing returns.
    public static let maxLimit = 100

    public var from: Timestamp
    public var to: Timestamp?
    public var ingestedAtFrom: Timestamp?
    public var ingestedAtTo: Timestamp?
    /// Substring of the event id.
    public var id: String?
    /// Substring of the subject.
    public var subject: String?
    public var limit: Int

    public init(
        from: Timestamp, to: Timestamp? = nil, ingestedAtFrom: Timestamp? = nil, ingestedAtTo: Timestamp? = nil,
        id: String? = nil, subject: String? = nil, limit: Int = EventFilter.maxLimit
    ) {
        self.from = from
        self.to = to
        self.ingestedAtFrom = ingestedAtFrom
        self.ingestedAtTo = ingestedAtTo
        self.id = id
        self.subject = subject
        self.limit = limit
    }
}

/// A stored event with when it was ingested and why meters could not count it.
public struct IngestedEvent: Sendable, Hashable {
    public var event: CloudEvent
    public var ingestedAt: Timestamp
    /// One message per meter that matches the event's type but could not read its value; empty when all counted it.
    public var validationErrors: [String]
}

/// A customer key seen in events.
public struct SubjectRecord: Sendable, Hashable {
    public var id: String
    public var key: String
    public var firstSeen: Timestamp

    public init(id: String, key: String, firstSeen: Timestamp) {
        self.id = id
        self.key = key
        self.firstSeen = firstSeen
    }
}

extension ShardStore {
    /// Stored events matching `filter`, newest event time first.
    public func listEvents(_ filter: EventFilter) async throws -> [IngestedEvent] {
        var sql = "SELECT body, ingested_us, time_us FROM events WHERE time_us >= ?"
        var arguments: StatementArguments = [filter.from.micros]
        if let to = filter.to {
            sql += " AND time_us <= ?"
            arguments += [to.micros]
        }
        if let from = filter.ingestedAtFrom {
            sql += " AND ingested_us >= ?"
            arguments += [from.micros]
        }
        if let to = filter.ingestedAtTo {
            sql += " AND ingested_us <= ?"
            arguments += [to.micros]
        }
        if let id = filter.id {
            sql += " AND instr(event_id, \(StoredText.parameter)) > 0"
            arguments += [StoredText.argument(id)]
        }
        if let subject = filter.subject {
            sql += " AND instr(subject, \(StoredText.parameter)) > 0"
            arguments += [StoredText.argument(subject)]
        }
        sql += " ORDER BY time_us DESC, seq DESC LIMIT ?"
        arguments += [filter.limit]
        let statement = sql
        let values = arguments
        let rows: [(body: String, ingested: Int64, time: Int64)] = try await pool.read { db in
            try Row.fetchAll(db, sql: statement, arguments: values).map { ($0[0], $0[1], $0[2]) }
        }
        let meters = self.meters
        return rows.compactMap { row in
            guard let event = StoredEvent.decode(row.body, timeMicros: row.time) else { return nil }
            let errors = meters.filter { $0.matches(event) }.compactMap { meter -> String? in
                if case .failure(let error) = meter.sample(event) { return error.message }
                return nil
            }
            return IngestedEvent(event: event, ingestedAt: Timestamp(micros: row.ingested), validationErrors: errors)
        }
    }

    /// Up to `limit` subjects seen, in byte order of their keys, after the key `after` (from the first when nil).
    public func subjects(after: String? = nil, limit: Int) async throws -> [SubjectRecord] {
        try await pool.read { db in
            let select = "SELECT id, \(StoredText.column("key")), first_seen_us FROM subjects"
            let rows =
                if let after {
                    try Row.fetchAll(
                        db, sql: select + " WHERE key > \(StoredText.parameter) ORDER BY key LIMIT ?",
                        arguments: [StoredText.argument(after), limit])
                } else {
                    try Row.fetchAll(db, sql: select + " ORDER BY key LIMIT ?", arguments: [limit])
                }
            return rows.map {
                SubjectRecord(id: $0[0], key: StoredText.string($0[1]), firstSeen: Timestamp(micros: $0[2]))
            }
        }
    }

    /// Subjects with usage on `meter` in the minutes overlapping [from, to): pending partials, whole hours from the
    /// hourly rows by customer, and the minutes before the first and after the last whole hour from raw events.
    public func meterSubjects(meter: MeterDefinition, from: Timestamp?, to: Timestamp?) async throws -> [String] {
        let lower = from?.minuteFloor
        let upper = to?.minuteCeiling
        let firstHour = lower.map { Resolution.hour.ceiling($0) }
        let endHour = upper.map { Resolution.hour.floor($0) }
        var edges: [Range<Timestamp>] = []
        var wholeHours = true
        if let lower, let upper, let firstHour, let endHour, firstHour >= endHour {
            wholeHours = false
            if lower < upper { edges.append(lower..<upper) }
        } else {
            if let lower, let firstHour { edges.append(lower..<firstHour) }
            if let upper, let endHour { edges.append(endHour..<upper) }
        }
        var subjects = Set<Identifier>()
        for part in pending.parts(meterID: meter.id) {
            for key in part.buffer.partials.keys
            where key.minute >= (lower?.micros ?? Int64.min) && key.minute < (upper?.micros ?? Int64.max) {
                subjects.insert(key.subject)
            }
        }
        if wholeHours {
            let stored = try await aggregates.read { db in
                try DatabaseValue.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT \(StoredText.column("subject")) FROM rollup_agg
                        WHERE meter = (SELECT number FROM meters WHERE id = ?) AND resolution = ?
                            AND bucket_us >= ? AND bucket_us < ?
                        """,
                    arguments: [
                        meter.id, Resolution.hour.micros, firstHour?.micros ?? Int64.min, endHour?.micros ?? Int64.max,
                    ])
            }
            subjects.formUnion(stored.map { Identifier(StoredText.string($0)) })
        }
        let edgeRanges = edges.filter { !$0.isEmpty }
        if !edgeRanges.isEmpty {
            let counted = try await pool.read { db in
                var found = Set<Identifier>()
                for range in edgeRanges {
                    let rows = try Row.fetchCursor(
                        db,
                        sql: """
                            SELECT body, time_us FROM events
                            WHERE type = \(StoredText.parameter) AND time_us >= ? AND time_us < ?
                            """,
                        arguments: [
                            StoredText.argument(meter.eventType), range.lowerBound.micros, range.upperBound.micros,
                        ])
                    while let row = try rows.next() {
                        guard let (event, _) = StoredEvent.sampled(row[0], timeMicros: row[1], by: meter) else {
                            continue
                        }
                        found.insert(Identifier(event.subject))
                    }
                }
                return found
            }
            subjects.formUnion(counted)
        }
        return subjects.sorted().map(\.text)
    }
}
