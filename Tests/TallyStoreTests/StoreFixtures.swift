import Foundation
import TallyCore

@testable import TallyStore

/// A store on a real SQLite file in a fresh temporary folder.
struct StoreFixture {
    let directory: String
    var path: String { directory + "/shard.sqlite" }

    init() throws {
        directory = NSTemporaryDirectory() + "tally-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func open(_ configuration: StoreConfiguration = StoreConfiguration()) throws -> ShardStore {
        try ShardStore(path: path, configuration: configuration)
    }
}

func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

func event(
    _ id: String, subject: String = "c1", type: String = "prompt", time: String, data: String, source: String = "app"
) -> CloudEvent {
    CloudEvent(id: id, source: source, type: type, subject: subject, time: t(time), data: try! JSONParser.parse(data))
}

func spec(
    _ slug: String, _ aggregation: MeterAggregation, value: String? = "$.v", groupBy: [String: String] = [:],
    type: String = "prompt"
) -> MeterSpec {
    MeterSpec(
        slug: slug, aggregation: aggregation, eventType: type, valueProperty: value.map { try! JSONPath(parsing: $0) },
        groupBy: groupBy.mapValues { try! JSONPath(parsing: $0) })
}

extension ShardStore {
    /// Runs a query the way the HTTP layer does and returns the rows.
    func rows(_ slug: String, _ query: MeterQuery) async throws -> [MeterQueryRow] {
        let meter = self.meter(idOrSlug: slug)!
        let calendar = try query.validate(for: meter).get()
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
        try await accumulate(meter: meter, query: query, calendar: calendar, into: &accumulator)
        return try accumulator.result(now: query.to ?? .now)
    }

    /// Each live meter of `tokens`, `users` and `calls` by customer and DAY over 2024-05-01 to 05-04 (`tokens` also by
    /// its `m` group): the answers the slot and back-fill tests compare between stores.
    func dailyAnswers() async throws -> [String: [MeterQueryRow]] {
        var answers: [String: [MeterQueryRow]] = [:]
        for slug in ["tokens", "users", "calls"] where meter(idOrSlug: slug) != nil {
            answers[slug] = try await rows(
                slug,
                MeterQuery(
                    from: t("2024-05-01T00:00:00Z"), to: t("2024-05-04T00:00:00Z"), windowSize: .day,
                    groupBy: slug == "tokens" ? ["subject", "m"] : ["subject"]))
        }
        return answers
    }

    /// The single total of a meter over [from, to).
    func total(_ slug: String, from: String? = nil, to: String = "2030-01-01T00:00:00Z") async throws -> String? {
        try await rows(slug, MeterQuery(from: from.map(t), to: t(to))).first?.value.description
    }
}
