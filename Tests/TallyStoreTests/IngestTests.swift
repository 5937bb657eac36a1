import Foundation
import GRDB
import TallyCore
import Testing

@testable import TallyStore

@Suite struct IngestTests {
    @Test func duplicatesWithinAndAcrossBatchesCountOnce() async throws {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum))
        let first = event("e1", time: "2024-01-01T00:00:00Z", data: #"{"v": 10}"#)
        try await store.ingest([first, first, event("e2", time: "2024-01-01T00:01:00Z", data: #"{"v": 5}"#)])
        try await store.ingest([first, event("e2", time: "2024-01-01T00:01:00Z", data: #"{"v": 5}"#)])
        #expect(try await store.total("tokens") == "15")
        #expect(store.eventCount == 2)
    }

    @Test func sameIdFromAnotherSourceOrSubjectIsNew() async throws {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("calls", .count, value: nil))
        try await store.ingest([
            event("e1", subject: "a", time: "2024-01-01T00:00:00Z", data: "{}"),
            event("e1", subject: "b", time: "2024-01-01T00:00:00Z", data: "{}"),
            event("e1", subject: "a", time: "2024-01-01T00:00:00Z", data: "{}", source: "other"),
        ])
        #expect(try await store.total("calls") == "3")
    }

    @Test func deduplicationSurvivesReopening() async throws {
        let fixture = try StoreFixture()
        do {
            let store = try fixture.open()
            _ = try await store.createMeter(spec("tokens", .sum))
            try await store.ingest([event("e1", time: "2024-01-01T00:00:00Z", data: #"{"v": 1.25}"#)])
        }
        let reopened = try fixture.open()
        try await reopened.ingest([event("e1", time: "2024-01-01T00:00:00Z", data: #"{"v": 1.25}"#)])
        #expect(try await reopened.total("tokens") == "1.25")
        #expect(reopened.meters.map(\.slug) == ["tokens"])
    }

    @Test func pruningPastTheWindowForgetsIds() async throws {
        var configuration = StoreConfiguration()
        configuration.dedupWindowSeconds = 3600
        configuration.dedupPruneBatchRows = 1
        let store = try StoreFixture().open(configuration)
        _ = try await store.createMeter(spec("calls", .count, value: nil))
        try await store.ingest([
            event("e1", time: "2024-01-01T00:00:00Z", data: "{}"),
            event("e2", time: "2024-01-01T00:00:00Z", data: "{}"),
        ])
        #expect(try await store.pruneDedup() == 0)
        let later = Timestamp(micros: Timestamp.now.micros + 2 * 3600 * 1_000_000)
        #expect(try await store.pruneDedup(now: later) == 2)
        try await store.ingest([event("e1", time: "2024-01-01T00:00:00Z", data: "{}")])
        #expect(try await store.total("calls") == "3")
    }

    @Test func concurrentWritersAreExact() async throws {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum))
        let writers = 8
        let batches = 25
        let batchEvents = 40
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    for batch in 0..<batches {
                        let events = (0..<batchEvents).map { index in
                            event(
                                "w\(writer)-b\(batch)-\(index)", subject: "c\(index % 7)",
                                time: "2024-01-01T00:0\(index % 10):00Z", data: #"{"v": "0.1"}"#)
                        }
                        try await store.ingest(events)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(store.eventCount == writers * batches * batchEvents)
        #expect(try await store.total("tokens") == "800")
    }

    @Test func invalidValuesAreStoredButNotCountedAndNeverAffectOtherMeters() async throws {
        let store = try StoreFixture().open()
        _ = try await store.createMeter(spec("tokens", .sum))
        _ = try await store.createMeter(spec("calls", .count, value: nil))
        try await store.ingest([
            event("e1", time: "2024-01-01T00:00:00Z", data: #"{"v": "lots"}"#),
            event("e2", time: "2024-01-01T00:00:00Z", data: #"{"v": 3}"#),
        ])
        #expect(try await store.total("tokens") == "3")
        #expect(try await store.total("calls") == "2")
        let listed = try await store.listEvents(EventFilter(from: t("2023-01-01T00:00:00Z")))
        #expect(listed.map(\.event.id).sorted() == ["e1", "e2"])
        #expect(
            listed.first { $0.event.id == "e1" }?.validationErrors == [
                "meter tokens: valueProperty $.v is not numeric: \"lots\""
            ])
        #expect(listed.first { $0.event.id == "e2" }?.validationErrors == [])
    }

    @Test func listingFiltersBySubstringTimeAndLimit() async throws {
        let store = try StoreFixture().open()
        try await store.ingest([
            event("order-1", subject: "acme-1", time: "2024-01-01T00:00:00Z", data: "{}"),
            event("order-2", subject: "acme-2", time: "2024-01-02T00:00:00Z", data: "{}"),
            event("refund-3", subject: "globex", time: "2024-01-03T00:00:00Z", data: "{}"),
        ])
        let from = t("2023-01-01T00:00:00Z")
        #expect(
            try await store.listEvents(EventFilter(from: from, id: "order")).map(\.event.id) == ["order-2", "order-1"])
        #expect(
            try await store.listEvents(EventFilter(from: from, subject: "acme")).map(\.event.id) == [
                "order-2", "order-1",
            ])
        #expect(
            try await store.listEvents(EventFilter(from: t("2024-01-02T00:00:00Z"))).map(\.event.id) == [
                "refund-3", "order-2",
            ])
        #expect(
            try await store.listEvents(EventFilter(from: from, to: t("2024-01-01T12:00:00Z"))).map(\.event.id) == [
                "order-1"
            ])
        #expect(try await store.listEvents(EventFilter(from: from, limit: 1)).map(\.event.id) == ["refund-3"])
        #expect(try await store.subjects(limit: 100).map(\.key) == ["acme-1", "acme-2", "globex"])
    }
}

@Suite struct ReceivedTextTests {
    @Test func eventsAreStoredAsReceivedAndKeepTheirDefaultedTime() async throws {
        let fixture = try StoreFixture()
        let received =
            #"{"id":"e1","source":"app","specversion":"1.0","type":"prompt","subject":"c1","data":{"v":2},"#
            + #""traceparent":"00-abc"}"#
        let now = t("2024-06-01T12:00:30Z")
        let events = try EventBatch.validate(
            JSONParser.parse(received), texts: [received], now: now,
            allowSingle: true, allowArray: true, maxBatchEvents: 10
        ).get()
        #expect(events[0].receivedJSON == received)
        do {
            let store = try fixture.open()
            _ = try await store.createMeter(spec("tokens", .sum))
            try await store.ingest(events)
        }
        let reopened = try fixture.open()
        #expect(try await reopened.total("tokens", from: "2024-06-01T12:00:00Z", to: "2024-06-01T12:01:00Z") == "2")
        let listed = try await reopened.listEvents(EventFilter(from: t("2024-01-01T00:00:00Z")))
        #expect(listed.map(\.event.time) == [now])
        let body = try await reopened.pool.read { db in try String.fetchOne(db, sql: "SELECT body FROM events") }
        #expect(body == received)
    }
}
