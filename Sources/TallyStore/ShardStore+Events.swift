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
            sql += " AND instr(event_id, ?) > 0"
            arguments += [id]
        }
        if let subject = filter.subject {
            sql += " AND instr(subject, ?) > 0"
            arguments += [subject]
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

    /// Every subject seen, by key.
    public func subjects() async throws -> [SubjectRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, key, first_seen_us FROM subjects ORDER BY key").map {
                SubjectRecord(id: $0[0], key: $0[1], firstSeen: Timestamp(micros: $0[2]))
            }
        }
    }

    /// Subjects with usage on `meter` in the minutes overlapping [from, to).
    public func meterSubjects(meter: MeterDefinition, from: Timestamp?, to: Timestamp?) async throws -> [String] {
        let lower = from?.minuteFloor.micros ?? Int64.min
        let upper = to?.minuteCeiling.micros ?? Int64.max
        var subjects = Set<Identifier>()
        for part in pending.parts(meterID: meter.id) {
            for key in part.buffer.partials.keys where key.minute >= lower && key.minute < upper {
                subjects.insert(key.subject)
            }
        }
        let stored = try await aggregates.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT subject FROM minute_agg
                    WHERE meter = (SELECT number FROM meters WHERE id = ?) AND minute_us >= ? AND minute_us < ?
                    """, arguments: [meter.id, lower, upper])
        }
        return subjects.union(stored.map { Identifier($0) }).sorted().map(\.text)
    }
}
