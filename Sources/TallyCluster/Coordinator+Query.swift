import TallyCore
import TallyHTTP

extension Coordinator {
    /// Asks the owners of the query's subjects (each for its own subjects; every worker when there are none) for
    /// partial aggregates and
    /// merges them: the rows equal those of one node holding every event. `query.to` must be set, so all
    /// workers cut the range at the same instant. Fails closed (503) unless `allowPartial`; a query a worker
    /// refuses as such (4xx, or 503 `meter-building` while the meter back-fills there), or whose partials carry more
    /// than `maxDistinctValueEntries` distinct values, fails as it would on one node. Every worker is asked at one
    /// epoch: while a move switches over the query waits, and when a worker moved on meanwhile it is asked again.
    public func query(
        meter: MeterDefinition, query: MeterQuery, calendar: WindowCalendar, allowPartial: Bool
    ) async throws -> MeterQueryAnswer {
        var attempt = 0
        var table: SlotTable
        var replies: [(String, WorkerReply)]
        var failures: [WorkerFailure]
        repeat {
            let planned = try await snapshot(waitingWhile: \.queriesHeld).table
            let workers =
                query.subjects.isEmpty ? planned.workers : Set(query.subjects.map(planned.owner(of:))).sorted()
            (replies, failures) = await fanOut(workers, .POST, "/internal/v1/query", epoch: planned.epoch) { worker in
                var part = query
                part.subjects = query.subjects.filter { planned.owner(of: $0) == worker }
                return JSONWriter.string(
                    .object([
                        "meter": .string(meter.id), "query": part.requestJSON, "allowPartial": .bool(allowPartial),
                    ]))
            }
            table = planned
            attempt += 1
        } while failures.contains(where: \.isFenced) && attempt <= Coordinator.maxReroutes
        if let refusal = failures.first(where: { $0.refusesTheRequest || $0.isMeterBuilding }) {
            throw ClusterError.requestRefused(refusal)
        }
        let answers = replies.map { ($0.0, $0.1, $0.1.json) }
        let distinct = answers.reduce(0) { total, answer in
            total
                + (answer.2?["rows"]?.arrayValue ?? []).reduce(0) {
                    $0 + ($1["partial"]?["uniques"]?.arrayValue?.count ?? 0)
                }
        }
        guard distinct <= MeterQuery.maxDistinctValueEntries else {
            throw QueryTooLarge(meterSlug: meter.slug, limit: MeterQuery.maxDistinctValueEntries)
        }
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        for (worker, reply, json) in answers {
            guard let json, accumulator.merge(partialsJSON: json) else {
                failures.append(
                    WorkerFailure(
                        worker: worker, kind: .refused(status: reply.status),
                        reason: "answered with malformed partials"))
                continue
            }
        }
        if !failures.isEmpty && !allowPartial {
            throw ClusterError.shardsUnavailable(failures, table: SlotTableSummary(table))
        }
        return MeterQueryAnswer(
            rows: try accumulator.result(now: query.to ?? .now), missingWorkers: failures.map(\.worker).sorted(),
            missingSlots: failures.flatMap { table.slots(ownedBy: $0.worker) }.sorted())
    }
}
