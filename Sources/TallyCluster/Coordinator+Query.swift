import TallyCore
import TallyHTTP

/// A merged cross-shard query answer and what it is missing.
public struct ClusterQueryAnswer: Sendable {
    public var rows: [MeterQueryRow]
    /// Workers that could not answer (only with `allowPartial`), and the slots they own.
    public var missingWorkers: [String]
    public var missingSlots: [Int]
}

extension Coordinator {
    /// Asks the owners of the query's subjects (each for its own subjects; every worker when there are none) for partial aggregates and
    /// merges them: the rows equal those of one node holding every event. `query.to` must be set, so all
    /// workers cut the range at the same instant. Fails closed (503) unless `allowPartial`.
    public func query(meter: MeterDefinition, query: MeterQuery, calendar: WindowCalendar, allowPartial: Bool) async throws -> ClusterQueryAnswer {
        let table = state.snapshot.table
        let workers = query.subjects.isEmpty ? table.workers : Set(query.subjects.map(table.owner(of:))).sorted()
        var (replies, failures) = await fanOut(workers, .POST, "/internal/v1/query") { worker in
            var part = query
            part.subjects = query.subjects.filter { table.owner(of: $0) == worker }
            return JSONWriter.string(.object(["meter": .string(meter.id), "query": part.requestJSON]))
        }
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        for (worker, reply) in replies {
            guard let json = reply.json, accumulator.merge(partialsJSON: json) else {
                failures.append(WorkerFailure(worker: worker, reason: "answered with malformed partials"))
                continue
            }
        }
        if !failures.isEmpty && !allowPartial { throw Coordinator.unavailable(failures, table: table) }
        return ClusterQueryAnswer(rows: accumulator.result(now: query.to ?? .now), missingWorkers: failures.map(\.worker).sorted(),
                                  missingSlots: failures.flatMap { table.slots(ownedBy: $0.worker) }.sorted())
    }
}
