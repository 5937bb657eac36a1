import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Generated hostile feature, entitlement, grant, value, history, reset, customer, subject upsert and enforced
/// ingestion requests against a live node: it stays
/// up, never answers 5xx, every 4xx is a problem naming a field, and only accepted creations add anything.
/// `TALLY_FUZZ_SEED` replays a run.
@Suite struct EntitlementFuzzTests {
    static let seed = ProcessInfo.processInfo.environment["TALLY_FUZZ_SEED"].flatMap(UInt64.init) ?? 20_261_128
    static let requests = 3_000

    @Test func hostileEntitlementRequestsNeverCrashAndChangeOnlyWhatTheyCreate() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            #expect(
                try await node.post("/api/v1/features", #"{"key":"tokens","name":"T","meterSlug":"tokens_total"}"#)
                    .status == 201)
            #expect(try await node.post("/api/v1/features", #"{"key":"sso","name":"SSO"}"#).status == 201)
            let capped = try await node.post(
                "/api/v1/features", #"{"key":"capped","name":"C","meterSlug":"tokens_total","enforcement":"reject"}"#)
            #expect(capped.status == 201)
            let cappedEntitlement = try await node.post(
                "/api/v2/customers/acme/entitlements",
                #"{"type":"metered","featureKey":"capped","usagePeriod":{"interval":"DAY"},"issue":{"amount":50}}"#)
            #expect(cappedEntitlement.status == 201)
            #expect(
                try await node.post(
                    "/api/v1/subjects/acme/entitlements",
                    #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"DAY"},"issueAfterReset":100}"#
                ).status == 201)
            #expect(
                try await node.post(
                    "/api/v1/events",
                    "["
                        + (0..<20).map { eventJSON("e\($0)", subject: "acme", time: Timestamp.now.description) }
                        .joined(separator: ",") + "]"
                ).status == 204)
            var generator = EntitlementFuzzer(seed: Self.seed, now: Timestamp.now.minuteFloor.description)
            var created: [EntitlementChange: Int] = [:]
            var statuses: [EntitlementChange: [UInt: Int]] = [:]
            var problems: [String] = []
            for number in 0..<Self.requests {
                let (request, change) = generator.next()
                let label = "seed \(Self.seed) request \(number) \(request.method) \(request.path.prefix(150))"
                let reply = try await TestHTTP.send(
                    request.method, node.baseURL + request.path, bytes: request.body, contentType: nil,
                    headers: request.headers)
                if reply.status >= 500 { problems.append("\(label): \(reply.status) \(reply.body.prefix(300))") }
                if (400..<500).contains(reply.status) {
                    let fields = reply.json?["errors"]?.arrayValue?.compactMap { $0["field"]?.stringValue } ?? []
                    if reply.headers["Content-Type"].first != "application/problem+json" || fields.isEmpty {
                        problems.append("\(label): \(reply.status) without a field: \(reply.body.prefix(300))")
                    }
                }
                if reply.status == 201 { created[change, default: 0] += 1 }
                statuses[change, default: [:]][reply.status, default: 0] += 1
            }
            for problem in problems.prefix(20) { Issue.record("\(problem)") }
            #expect(problems.isEmpty, "\(problems.count) problems")
            #expect(try await node.get("/healthz").status == 200)
            let features = try await node.get("/api/v1/features?includeArchived=true").json?.arrayValue?.count
            #expect(features == 3 + created[.feature, default: 0])
            let entitlements = try await node.get("/api/v1/entitlements?limit=1000").json?.arrayValue?.count
            #expect(entitlements == 2 + created[.entitlement, default: 0])
            let grants = try await node.get("/api/v1/grants?limit=1000&includeDeleted=true").json?.arrayValue?.count
            #expect(grants == 2 + created[.grant, default: 0])
            // Customers: those created, plus one provisioned per upserted subject no customer attributed.
            let customers = try await node.get("/api/v1/customers?includeDeleted=true&pageSize=1")
            let total = try #require(customers.json?["totalCount"].flatMap { Int(JSONWriter.string($0)) })
            #expect(total >= created[.customer, default: 0])
            #expect(try await node.get("/api/v2/customers/acme/entitlements/capped/value").status == 200)
            #expect(
                created[.grant, default: 0] > 0 && created[.entitlement, default: 0] > 0
                    && created[.customer, default: 0] > 0, "\(created) \(statuses)")
        }
    }
}
