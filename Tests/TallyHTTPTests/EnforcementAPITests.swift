import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Inline enforcement (`enforcement: "reject"`) through a real node's ingestion.
@Suite struct EnforcementAPITests {
    /// Two days ago, on a whole hour: where metering starts in these tests.
    let start: Timestamp = {
        let twoDaysAgo = Timestamp.now.micros - 2 * 86_400_000_000
        return Timestamp(micros: twoDaysAgo - twoDaysAgo % 3_600_000_000)
    }()

    func at(hours: Int) -> String { Timestamp(micros: start.micros + Int64(hours) * 3_600_000_000).description }

    /// Now: enforcement judges events the entitlement is active at (created when the test seeds it).
    var now: String { Timestamp.now.description }

    /// A SUM meter, an enforcing feature on it, and `acme`'s entitlement with a grant of `issue`.
    func seed(_ node: LiveNode, issue: Int) async throws {
        try await node.createMeter(tokensMeter)
        let feature = try await node.post(
            "/api/v1/features",
            #"{"key":"tokens","name":"Tokens","meterSlug":"tokens_total","enforcement":"reject"}"#)
        #expect(feature.status == 201, "\(feature.body)")
        let entitlement = try await node.post(
            "/api/v2/customers/acme/entitlements",
            #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"MONTH","anchor":"\#(start)"},"#
                + #""measureUsageFrom":"\#(start)","issue":{"amount":\#(issue)}}"#)
        #expect(entitlement.status == 201, "\(entitlement.body)")
    }

    func send(_ node: LiveNode, _ events: [String]) async throws -> HTTPReply {
        try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]")
    }

    @Test func theEventThatCrossesZeroIsTheLastOneAdmitted() async throws {
        try await LiveNode.run { node in
            try await seed(node, issue: 100)
            #expect(
                try await send(node, [eventJSON("1", subject: "acme", time: now, data: #"{"tokens":60}"#)])
                    .status == 204)
            let crossing = try await send(
                node,
                [
                    eventJSON("2", subject: "acme", time: now, data: #"{"tokens":30}"#),
                    eventJSON("3", subject: "acme", time: now, data: #"{"tokens":20}"#),
                ])
            #expect(crossing.status == 204, "\(crossing.body)")
            let value = try await node.get("/api/v2/customers/acme/entitlements/tokens/value")
            #expect(value.json?["balance"].map(JSONWriter.string) == "0")
            #expect(value.json?["overage"].map(JSONWriter.string) == "10")
            let refused = try await send(
                node,
                [
                    eventJSON("4", subject: "other", time: now, data: #"{"tokens":5}"#),
                    eventJSON("5", subject: "acme", time: now, data: #"{"tokens":1}"#),
                    eventJSON("6", subject: "acme", type: "other", time: now, data: #"{"tokens":1}"#),
                ])
            #expect(refused.status == 403)
            #expect(refused.json?["type"]?.stringValue == "urn:tally:problem:entitlement-access-denied")
            #expect(
                refused.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"[1]","reason":"customer \"acme\" has no access to feature tokens"}]"#)
            #expect(refused.json?["refused"]?.arrayValue?.first?["customer"]?.stringValue == "acme")
            // Nothing of the refused batch was stored, not even the other customer's event.
            #expect(try await node.values("/api/v1/meters/tokens_total/query?subject=other&\(allTime)") == [])
            #expect(
                try await send(node, [eventJSON("6", subject: "acme", type: "other", time: now)]).status
                    == 204)
            // A new grant gives access back: it pays the overage of 10 first.
            let grant = try await node.post(
                "/api/v2/customers/acme/entitlements/tokens/grants", #"{"amount":50,"effectiveAt":"\#(at(hours: 4))"}"#)
            #expect(grant.status == 201, "\(grant.body)")
            #expect(
                try await send(node, [eventJSON("7", subject: "acme", time: now, data: #"{"tokens":39}"#)])
                    .status == 204)
            #expect(
                try await send(node, [eventJSON("8", subject: "acme", time: now, data: #"{"tokens":2}"#)])
                    .status == 204)
            #expect(
                try await send(node, [eventJSON("9", subject: "acme", time: now, data: #"{"tokens":1}"#)])
                    .status == 403)
            let final = try await node.get("/api/v2/customers/acme/entitlements/tokens/value")
            #expect(final.json?["usage"].map(JSONWriter.string) == "151")
            #expect(final.json?["overage"].map(JSONWriter.string) == "1")
        }
    }

    @Test func concurrentBatchesNeverSpendTheSameBalanceTwice() async throws {
        try await LiveNode.run { node in
            try await seed(node, issue: 100)
            let statuses = try await withThrowingTaskGroup(of: UInt.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await send(
                            node,
                            [eventJSON("c\(index)", subject: "acme", time: now, data: #"{"tokens":10}"#)]
                        ).status
                    }
                }
                return try await group.reduce(into: [UInt]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 204 }.count == 10, "\(statuses)")
            #expect(statuses.filter { $0 == 403 }.count == 10, "\(statuses)")
            let value = try await node.get("/api/v2/customers/acme/entitlements/tokens/value")
            #expect(value.json?["usage"].map(JSONWriter.string) == "100")
            #expect(value.json?["balance"].map(JSONWriter.string) == "0")
            #expect(value.json?["overage"].map(JSONWriter.string) == "0")
            #expect(value.json?["hasAccess"] == .bool(false))
        }
    }

    @Test func lateUsageCountsAndEventsAheadOfTheClockAreRefused() async throws {
        try await LiveNode.run { node in
            try await seed(node, issue: 100)
            let first = try await send(node, [eventJSON("1", subject: "acme", time: now, data: #"{"tokens":1}"#)])
            #expect(first.status == 204)
            // Before the entitlement existed but after measureUsageFrom: not judged, but counted in its balance.
            let late = try await send(
                node, [eventJSON("2", subject: "acme", time: at(hours: 1), data: #"{"tokens":500}"#)])
            #expect(late.status == 204)
            let value = try await node.get("/api/v2/customers/acme/entitlements/tokens/value")
            #expect(value.json?["overage"].map(JSONWriter.string) == "401")
            let after = try await send(node, [eventJSON("3", subject: "acme", time: now, data: #"{"tokens":1}"#)])
            #expect(after.status == 403)
            let ahead = Timestamp(micros: Timestamp.now.micros + 3_600_000_000).description
            let future = try await send(node, [eventJSON("4", subject: "acme", time: ahead, data: #"{"tokens":0}"#)])
            #expect(future.status == 403)
            #expect(
                future.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"[0]","reason":"is dated more than 5 minutes ahead of the node's clock: feature "#
                    + #"tokens judges usage only up to then"}]"#)
        }
    }

    @Test func onlyTheSubjectsOfTheCustomerAreJudged() async throws {
        try await LiveNode.run { node in
            let customer = try await node.post(
                "/api/v1/customers", #"{"name":"Acme","key":"acme","usageAttribution":{"subjectKeys":["acme-web"]}}"#)
            #expect(customer.status == 201)
            try await seed(node, issue: 10)
            // `acme` is the customer's key, not one of its subjects: its usage counts for nobody's entitlement.
            let key = try await send(node, [eventJSON("1", subject: "acme", time: now, data: #"{"tokens":100}"#)])
            #expect(key.status == 204)
            let web = try await send(node, [eventJSON("2", subject: "acme-web", time: now, data: #"{"tokens":10}"#)])
            #expect(web.status == 204)
            let over = try await send(node, [eventJSON("3", subject: "acme-web", time: now, data: #"{"tokens":1}"#)])
            #expect(over.status == 403)
            let value = try await node.get("/api/v2/customers/acme/entitlements/tokens/value")
            #expect(value.json?["usage"].map(JSONWriter.string) == "10")
        }
    }

    @Test func aRestartedNodeEnforcesFromWhatIsStored() async throws {
        let folder = NSTemporaryDirectory() + "tally-enforcement-\(UUID().uuidString)"
        try await LiveNode.run(directory: folder) { node in
            try await seed(node, issue: 10)
            #expect(
                try await send(node, [eventJSON("1", subject: "acme", time: now, data: #"{"tokens":9}"#)])
                    .status == 204)
        }
        try await LiveNode.run(directory: folder) { node in
            let second = try await send(
                node, [eventJSON("2", subject: "acme", time: now, data: #"{"tokens":5}"#)])
            #expect(second.status == 204)
            let third = try await send(
                node, [eventJSON("3", subject: "acme", time: now, data: #"{"tokens":1}"#)])
            #expect(third.status == 403)
            // Soft limits and features without enforcement are never refused.
            let soft = try await node.post(
                "/api/v1/subjects/soft/entitlements",
                #"{"type":"metered","featureKey":"tokens","isSoftLimit":true,"usagePeriod":{"interval":"DAY"}}"#)
            #expect(soft.status == 201)
            let softEvent = try await send(node, [eventJSON("4", subject: "soft", time: now)])
            #expect(softEvent.status == 204)
        }
    }

    @Test func rejectNeedsASumOrCountMeter() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(
                #"{"slug":"seats","aggregation":"UNIQUE_COUNT","eventType":"seat","valueProperty":"$.user"}"#)
            let unique = try await node.post(
                "/api/v1/features", #"{"key":"seats","name":"Seats","meterSlug":"seats","enforcement":"reject"}"#)
            #expect(unique.status == 400)
            #expect(
                unique.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"enforcement","reason":"reject needs a SUM or COUNT meter; seats aggregates with "#
                    + #"UNIQUE_COUNT"}]"#)
            let unmetered = try await node.post(
                "/api/v1/features", #"{"key":"sso","name":"SSO","enforcement":"reject"}"#)
            #expect(
                unmetered.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"enforcement","reason":"reject needs meterSlug"}]"#)
        }
    }
}
