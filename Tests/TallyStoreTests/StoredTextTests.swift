import TallyCore
import Testing

@testable import TallyStore

/// Customers, group values and distinct values holding a NUL stay themselves everywhere SQLite carries them (GRDB
/// binds and reads a String only up to its first NUL): customer "a" never gets the usage of customer "a\0b", before
/// or after the aggregates are flushed, through rollups and through raw-event edges.
@Suite struct StoredTextTests {
    static let nulCustomer = "a\u{0}b"

    static func makeStore() async throws -> ShardStore {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum, groupBy: ["model": "$.model"]))
        _ = try await store.createMeter(spec("users", .uniqueCount, value: "$.user"))
        try await store.ingest([
            event("1", subject: "a", time: "2024-05-01T10:00:10Z", data: #"{"v": 1, "model": "m", "user": "u"}"#),
            event(
                "2", subject: nulCustomer, time: "2024-05-01T10:00:20Z",
                data: #"{"v": 100, "model": "m\u0000x", "user": "u\u0000v"}"#),
            event(
                "3", subject: "a", time: "2024-05-01T11:30:00Z",
                data: #"{"v": 10, "model": "m\u0000x", "user": "u\u0000v"}"#),
        ])
        return store
    }

    /// Each row's subject and group value as bytes, with its value.
    static func bytes(_ rows: [MeterQueryRow], group: String? = nil) -> [String: String] {
        var values: [String: String] = [:]
        for row in rows {
            let subject = row.subject.map { Array($0.utf8).description } ?? "-"
            let value = group.flatMap { row.groupBy[$0] ?? nil }.map { Array($0.utf8).description } ?? "-"
            values[subject + " " + value] = row.value.description
        }
        return values
    }

    @Test(arguments: [false, true])
    func customersGroupsAndDistinctValuesKeepTheirNuls(flushed: Bool) async throws {
        let store = try await Self.makeStore()
        if flushed { try await store.flushAggregates() }
        let day = (t("2024-05-01T00:00:00Z"), t("2024-05-02T00:00:00Z"))
        let (a, nul, m, mx) = ("[97]", "[97, 0, 98]", "[109]", "[109, 0, 120]")
        for (from, to, forA, forNul) in [
            (day.0, day.1, "11", "100"), (t("2024-05-01T10:00:15Z"), t("2024-05-01T12:00:00Z"), "10", "100"),
        ] {
            let bySubject = try await store.rows("tokens", MeterQuery(from: from, to: to, groupBy: ["subject"]))
            #expect(Self.bytes(bySubject) == ["\(a) -": forA, "\(nul) -": forNul])
            let one = try await store.rows("tokens", MeterQuery(from: from, to: to, subjects: [Self.nulCustomer]))
            #expect(Self.bytes(one) == ["\(nul) -": forNul])
            let onlyA = try await store.rows("tokens", MeterQuery(from: from, to: to, subjects: ["a"]))
            #expect(Self.bytes(onlyA) == ["\(a) -": forA])
        }
        let byModel = try await store.rows("tokens", MeterQuery(from: day.0, to: day.1, groupBy: ["model"]))
        #expect(Self.bytes(byModel, group: "model") == ["- \(m)": "1", "- \(mx)": "110"])
        let users = try await store.rows("users", MeterQuery(from: day.0, to: day.1, groupBy: ["subject"]))
        #expect(Self.bytes(users) == ["\(a) -": "2", "\(nul) -": "1"])
        #expect(try await store.total("users", from: "2024-05-01T00:00:00Z") == "2")

        #expect(try await store.subjects(limit: 10).map { Array($0.key.utf8) } == [[97], [97, 0, 98]])
        #expect(try await store.subjects(after: "a", limit: 10).map { Array($0.key.utf8) } == [[97, 0, 98]])
        let tokens = try #require(store.meter(idOrSlug: "tokens"))
        #expect(
            try await store.meterSubjects(meter: tokens, from: nil, to: nil).map { Array($0.utf8) } == [
                [97], [97, 0, 98],
            ])
        var filter = EventFilter(from: day.0)
        filter.subject = "a\u{0}"
        #expect(try await store.listEvents(filter).map(\.event.id) == ["2"])
    }
}
