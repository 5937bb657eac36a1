import TallyCore
import TallyStore

/// What the public API runs on: one node's shard store (`LocalBackend`) or a cluster through its coordinator.
/// Every public endpoint is written once, over this, so validation, limits, the order of checks and the problems
/// answered are the same on a node and on a cluster.
public protocol MeteringBackend: Sendable {
    /// Stores a validated batch; returns once all of it is committed.
    func ingest(_ events: [CloudEvent]) async throws
    /// Stored events matching `filter` (rendered `IngestedEvent`s), newest event time first, at most `filter.limit`.
    func listEvents(_ filter: EventFilter) async throws -> [JSONValue]
    /// Every meter, deleted ones included.
    func allMeters() async throws -> [MeterDefinition]
    /// The live meter with this id or slug.
    func liveMeter(_ idOrSlug: String) -> MeterDefinition?
    func createMeter(_ spec: MeterSpec) async throws -> MeterDefinition
    func updateMeter(_ meter: MeterDefinition, with update: MeterUpdate) async throws -> MeterDefinition
    func deleteMeter(_ meter: MeterDefinition) async throws
    /// The rows of a prepared query (`to` set); `allowPartial` lets a cluster answer without unreachable workers,
    /// and a meter still back-filling answer from the events counted so far.
    func query(
        _ query: MeterQuery, of meter: MeterDefinition, calendar: WindowCalendar,
        allowPartial: Bool
    ) async throws -> MeterQueryAnswer
    /// Subjects with usage on `meter` in the minutes overlapping [from, to), in byte order.
    func meterSubjects(_ meter: MeterDefinition, from: Timestamp?, to: Timestamp?) async throws -> [String]
    /// Up to `limit` subjects seen, in byte order of their keys, after the key `after` (from the first when nil).
    func subjects(after: String?, limit: Int) async throws -> [SubjectRecord]
    /// The body of a ready `/readyz`; throws the problem to answer when not ready.
    func readiness() async throws -> JSONValue
}

/// A query's rows and, from a cluster asked with `allowPartial`, what they are missing.
public struct MeterQueryAnswer: Sendable {
    public var rows: [MeterQueryRow]
    /// Workers that could not answer, and the slots they own.
    public var missingWorkers: [String]
    public var missingSlots: [Int]

    public init(rows: [MeterQueryRow], missingWorkers: [String] = [], missingSlots: [Int] = []) {
        self.rows = rows
        self.missingWorkers = missingWorkers
        self.missingSlots = missingSlots
    }
}

/// One node: the public API over its own shard store.
public struct LocalBackend: MeteringBackend {
    public let store: ShardStore

    public init(store: ShardStore) { self.store = store }

    public func ingest(_ events: [CloudEvent]) async throws {
        try await store.ingestEnforced(events)
        store.touchCustomers(events.lazy.map(\.subject))
    }

    public func listEvents(_ filter: EventFilter) async throws -> [JSONValue] {
        EventListing.json(try await store.listEvents(filter)).arrayValue ?? []
    }

    public func allMeters() async throws -> [MeterDefinition] { try await store.listMeters(includeDeleted: true) }

    public func liveMeter(_ idOrSlug: String) -> MeterDefinition? { store.meter(idOrSlug: idOrSlug) }

    public func createMeter(_ spec: MeterSpec) async throws -> MeterDefinition { try await store.createMeter(spec) }

    public func updateMeter(_ meter: MeterDefinition, with update: MeterUpdate) async throws -> MeterDefinition {
        try await store.updateMeter(idOrSlug: meter.id, update)
    }

    public func deleteMeter(_ meter: MeterDefinition) async throws { try await store.deleteMeter(idOrSlug: meter.id) }

    public func query(
        _ query: MeterQuery, of meter: MeterDefinition, calendar: WindowCalendar,
        allowPartial: Bool
    ) async throws -> MeterQueryAnswer {
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        try await store.accumulate(
            meter: meter, query: query, calendar: calendar, allowPartial: allowPartial, into: &accumulator)
        return MeterQueryAnswer(rows: try accumulator.result(now: query.to ?? .now))
    }

    public func meterSubjects(_ meter: MeterDefinition, from: Timestamp?, to: Timestamp?) async throws -> [String] {
        try await store.meterSubjects(meter: meter, from: from, to: to)
    }

    public func subjects(after: String?, limit: Int) async throws -> [SubjectRecord] {
        try await store.subjects(after: after, limit: limit)
    }

    /// Ready while the store can write (a failing store is probed with a small write, so readiness returns by
    /// itself); never waits for a database reader.
    public func readiness() async throws -> JSONValue {
        if let failure = await store.recheckWrites() {
            throw Problem(
                .serviceUnavailable, type: "urn:tally:problem:not-ready",
                detail: "the store cannot write: \(failure.summary); ingestion resumes by itself once it can",
                errors: [FieldError(field: "store", reason: failure.summary)])
        }
        return .object(["status": .string("ready"), "events": .number(String(store.eventCount))])
    }
}
