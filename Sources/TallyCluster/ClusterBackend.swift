import TallyCore
import TallyHTTP
import TallyStore

/// A cluster as the public API sees it: ingestion split by owner, meters stored by the coordinator and pushed to
/// every worker, queries and listings gathered from the workers and merged exactly as one node would answer.
public struct ClusterBackend: MeteringBackend {
    public let coordinator: Coordinator

    public init(coordinator: Coordinator) { self.coordinator = coordinator }

    public func ingest(_ events: [CloudEvent]) async throws { try await coordinator.ingest(events) }

    /// Every worker's newest events, merged newest first (ties by ingestion time), cut at the limit.
    public func listEvents(_ filter: EventFilter) async throws -> [JSONValue] {
        let lists = try await coordinator.gather("/internal/v1/events?" + EventListing.parameters(filter))
        let merged = lists.flatMap { $0.arrayValue ?? [] }.sorted { a, b in
            let (ta, tb) = (Self.time(a, "event", "time"), Self.time(b, "event", "time"))
            if ta != tb { return ta > tb }
            return Self.time(a, "ingestedAt") > Self.time(b, "ingestedAt")
        }
        return Array(merged.prefix(filter.limit))
    }

    private static func time(_ item: JSONValue, _ path: String...) -> Int64 {
        var value: JSONValue? = item
        for key in path { value = value?[key] }
        return value?.stringValue.flatMap { Timestamp(rfc3339: $0) }?.micros ?? .min
    }

    public func allMeters() async throws -> [MeterDefinition] { coordinator.state.snapshot.meters }

    public func liveMeter(_ idOrSlug: String) -> MeterDefinition? { coordinator.state.snapshot.liveMeter(idOrSlug) }

    public func createMeter(_ spec: MeterSpec) async throws -> MeterDefinition {
        let now = Timestamp.now
        return try await publish(MeterDefinition(id: ULID.make(time: now), spec: spec, createdAt: now))
    }

    public func updateMeter(_ meter: MeterDefinition, with update: MeterUpdate) async throws -> MeterDefinition {
        try await publish(update.applied(to: meter, now: .now))
    }

    public func deleteMeter(_ meter: MeterDefinition) async throws {
        var deleted = meter
        deleted.deletedAt = .now
        _ = try await publish(deleted)
    }

    /// Stores the change durably, then pushes the catalog to the workers (those down catch up at their next probe).
    private func publish(_ meter: MeterDefinition) async throws -> MeterDefinition {
        _ = try await coordinator.state.put(meter)
        await coordinator.pushAll()
        return meter
    }

    public func query(
        _ query: MeterQuery, of meter: MeterDefinition, calendar: WindowCalendar,
        allowPartial: Bool
    ) async throws -> MeterQueryAnswer {
        try await coordinator.query(meter: meter, query: query, calendar: calendar, allowPartial: allowPartial)
    }

    public func meterSubjects(_ meter: MeterDefinition, from: Timestamp?, to: Timestamp?) async throws -> [String] {
        var parameters: [String] = []
        if let from { parameters.append("from=" + EventListing.percentEncoded(from.description)) }
        if let to { parameters.append("to=" + EventListing.percentEncoded(to.description)) }
        let lists = try await coordinator.gather(
            "/internal/v1/meters/\(meter.id)/subjects?" + parameters.joined(separator: "&"))
        return Set(lists.flatMap { $0.arrayValue ?? [] }.compactMap(\.stringValue).map { Identifier($0) }).sorted().map(
            \.text)
    }

    /// The first `limit` subjects after `after` over every worker: each worker's first `limit` hold them all. A key
    /// seen on several workers (never, unless slots moved) keeps its earliest record.
    public func subjects(after: String?, limit: Int) async throws -> [SubjectRecord] {
        var earliest: [Identifier: SubjectRecord] = [:]
        let path =
            "/internal/v1/subjects?limit=\(limit)" + (after.map { "&after=" + EventListing.percentEncoded($0) } ?? "")
        for item in try await coordinator.gather(path).flatMap({ $0.arrayValue ?? [] }) {
            guard let id = item["id"]?.stringValue, let key = item["key"]?.stringValue,
                let created = item["createdAt"]?.stringValue.flatMap({ Timestamp(rfc3339: $0) })
            else { continue }
            let record = SubjectRecord(id: id, key: key, firstSeen: created)
            if let known = earliest[Identifier(key)], known.firstSeen <= created { continue }
            earliest[Identifier(key)] = record
        }
        return earliest.keys.sorted().prefix(limit).compactMap { earliest[$0] }
    }

    /// Ready when every worker answered its last probe.
    public func readiness() async throws -> JSONValue {
        let down = coordinator.health.filter { $0.value.state != .up }.keys.sorted()
        guard down.isEmpty else {
            throw Problem(
                .serviceUnavailable, type: "urn:tally:problem:not-ready",
                detail: "worker(s) not reachable at the last probe: \(down.joined(separator: ", "))",
                errors: down.map { FieldError(field: "workers.\($0)", reason: "not reachable at the last probe") },
                extensions: ["downWorkers": .array(down.map(JSONValue.string))])
        }
        return .object(["status": .string("ready")])
    }
}
