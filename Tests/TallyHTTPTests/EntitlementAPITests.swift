import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Features, entitlements, grants, values and resets through a real node's HTTP API.
@Suite struct EntitlementAPITests {
    /// Two days ago, on a whole hour: where metering starts in these tests, so the current period holds it.
    let start: Timestamp = {
        let twoDaysAgo = Timestamp.now.micros - 2 * 86_400_000_000
        return Timestamp(micros: twoDaysAgo - twoDaysAgo % 3_600_000_000)
    }()

    func at(hours: Int) -> String { Timestamp(micros: start.micros + Int64(hours) * 3_600_000_000).description }

    func seed(_ node: LiveNode) async throws {
        try await node.createMeter(tokensMeter)
        let reply = try await node.post(
            "/api/v1/features", #"{"key":"tokens","name":"Tokens","meterSlug":"tokens_total"}"#)
        #expect(reply.status == 201)
    }

    func entitlement(_ node: LiveNode, subject: String = "acme", extra: String = "") async throws -> String {
        let reply = try await node.post(
            "/api/v1/subjects/\(subject)/entitlements",
            #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"MONTH","anchor":"\#(start)"},"#
                + #""measureUsageFrom":"\#(start)"\#(extra)}"#)
        #expect(reply.status == 201, "\(reply.body)")
        return try #require(reply.json?["id"]?.stringValue)
    }

    func grant(
        _ node: LiveNode, _ entitlement: String, _ body: String, subject: String = "acme"
    ) async throws
        -> HTTPReply
    {
        try await node.post("/api/v1/subjects/\(subject)/entitlements/\(entitlement)/grants", body)
    }

    func ingest(_ node: LiveNode, _ events: [String]) async throws {
        #expect(try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]").status == 204)
    }

    @Test func featuresAreCreatedListedAndArchived() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let duplicate = try await node.post("/api/v1/features", #"{"key":"tokens","name":"Again"}"#)
            #expect(duplicate.status == 409)
            #expect(duplicate.json?["type"]?.stringValue == "urn:tally:problem:feature-exists")
            let invalid = try await node.post("/api/v1/features", #"{"key":"Bad Key","name":""}"#)
            #expect(invalid.status == 400)
            #expect(
                invalid.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"key","reason":"must match ^[a-z0-9]+(?:_[a-z0-9]+)*$ and be at most 64 "#
                    + #"characters"},{"field":"name","reason":"must not be empty"}]"#)
            let ulidKey = try await node.post("/api/v1/features", #"{"key":"01jq0000000000000000000000","name":"x"}"#)
            #expect(ulidKey.status == 400)
            let noMeter = try await node.post("/api/v1/features", #"{"key":"seats","name":"Seats","meterSlug":"nope"}"#)
            #expect(noMeter.status == 404)
            #expect(try await node.post("/api/v1/features", #"{"key":"sso","name":"SSO"}"#).status == 201)
            #expect(try await node.get("/api/v1/features").json?.arrayValue?.count == 2)
            let page = try await node.get("/api/v1/features?page=1&pageSize=1&orderBy=key")
            #expect(page.json?["totalCount"].map(JSONWriter.string) == "2")
            #expect(page.json?["items"]?.arrayValue?.first?["key"]?.stringValue == "sso")
            #expect(try await node.get("/api/v1/features/tokens").json?["meterSlug"]?.stringValue == "tokens_total")
            #expect(try await node.request(.DELETE, "/api/v1/features/sso").status == 204)
            #expect(try await node.get("/api/v1/features/sso").status == 404)
            #expect(try await node.get("/api/v1/features").json?.arrayValue?.count == 1)
            #expect(try await node.get("/api/v1/features?includeArchived=true").json?.arrayValue?.count == 2)
        }
    }

    @Test func grantsBurnInOrderAndValuesAreExact() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let id = try await entitlement(node)
            let created = try await node.get("/api/v1/subjects/acme/entitlements/\(id)")
            #expect(created.json?["measureUsageFrom"]?.stringValue == start.description)
            #expect(created.json?["lastReset"]?.stringValue == start.description)
            #expect(
                created.json?["usagePeriod"].map(JSONWriter.string)
                    == #"{"anchor":"\#(start)","interval":"MONTH","intervalISO":"P1M"}"#)
            let conflict = try await node.post(
                "/api/v1/subjects/acme/entitlements",
                #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"DAY"}}"#)
            #expect(conflict.status == 409)
            #expect(conflict.json?["extensions"]?["conflictingEntityId"]?.stringValue == id)
            let first = try await grant(
                node, id, #"{"amount":100,"effectiveAt":"\#(start)","expiration":{"duration":"YEAR","count":1}}"#)
            #expect(first.status == 201)
            #expect(first.json?["priority"].map(JSONWriter.string) == "0")
            #expect(first.json?["maxRolloverAmount"].map(JSONWriter.string) == "0")
            let second = try await grant(
                node, "tokens",
                #"{"amount":10,"priority":1,"effectiveAt":"\#(start)","expiration":{"duration":"MONTH","count":2}}"#)
            #expect(second.status == 201)
            try await ingest(
                node,
                [
                    eventJSON("1", subject: "acme", time: at(hours: 1), data: #"{"tokens": 30}"#),
                    eventJSON("2", subject: "acme", time: at(hours: 2), data: #"{"tokens": 25}"#),
                    eventJSON("3", subject: "other", time: at(hours: 2), data: #"{"tokens": 1000}"#),
                ])
            let value = try await node.get("/api/v1/subjects/acme/entitlements/tokens/value")
            #expect(value.status == 200)
            #expect(
                value.body
                    == #"{"balance":55,"hasAccess":true,"overage":0,"totalAvailableGrantAmount":110,"usage":55}"#)
            try await ingest(node, [eventJSON("4", subject: "acme", time: at(hours: 3), data: #"{"tokens": 60}"#)])
            let exhausted = try await node.get("/api/v2/customers/acme/entitlements/tokens/value")
            let firstID = try #require(first.json?["id"]?.stringValue)
            let secondID = try #require(second.json?["id"]?.stringValue)
            #expect(
                exhausted.body
                    == #"{"balance":0,"grantBalances":{"\#(firstID)":0,"\#(secondID)":0},"hasAccess":false,"#
                    + #""overage":5,"totalAvailableGrantAmount":110,"usage":115}"#)
            let beforeCreation = try await node.get(
                "/api/v1/subjects/acme/entitlements/\(id)/value?time=\(at(hours: 1))")
            #expect(beforeCreation.body == #"{"hasAccess":false}"#)
            #expect(try await node.get("/api/v1/subjects/acme/entitlements/nope/value").status == 404)
            #expect(
                try await node.get("/api/v1/customers/acme/entitlements/nope/value").body == #"{"hasAccess":false}"#)
            #expect(try await node.get("/api/v1/grants?subject=acme").json?.arrayValue?.count == 2)
            #expect(try await node.get("/api/v1/entitlements?subject=other").json?.arrayValue?.count == 0)
        }
    }

    @Test func voidsAndResetsChangeTheBalance() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let id = try await entitlement(node)
            let reply = try await grant(
                node, id, #"{"amount":100,"effectiveAt":"\#(start)","expiration":{"duration":"YEAR","count":1}}"#)
            let grantID = try #require(reply.json?["id"]?.stringValue)
            try await ingest(node, [eventJSON("1", subject: "acme", time: at(hours: 1), data: #"{"tokens": 60}"#)])
            let path = "/api/v1/subjects/acme/entitlements/\(id)/value"
            #expect(try await node.get(path).json?["balance"].map(JSONWriter.string) == "40")
            #expect(try await node.request(.DELETE, "/api/v1/grants/\(grantID)?at=\(at(hours: 2))").status == 204)
            #expect(
                try await node.get(path).body
                    == #"{"balance":0,"hasAccess":false,"overage":0,"totalAvailableGrantAmount":60,"usage":60}"#)
            let again = try await node.request(.DELETE, "/api/v1/grants/\(grantID)")
            #expect(again.status == 400)
            #expect(again.json?["errors"]?.arrayValue?.first?["reason"]?.stringValue == "the grant is already voided")
            #expect(try await node.request(.DELETE, "/api/v1/grants/nope").status == 404)

            // Explicit times: "now" may cross a minute between two requests on a loaded machine.
            let resetAt = at(hours: 40)
            let laterInItsMinute = Timestamp(micros: Timestamp(rfc3339: resetAt)!.micros + 30_000_000).description
            #expect(
                try await node.post(
                    "/api/v1/subjects/acme/entitlements/\(id)/reset", #"{"effectiveAt":"\#(resetAt)"}"#
                ).status == 204)
            #expect(
                try await node.get(path).body
                    == #"{"balance":0,"hasAccess":false,"overage":0,"totalAvailableGrantAmount":0,"usage":0}"#)
            let sameMinute = try await node.post(
                "/api/v1/subjects/acme/entitlements/\(id)/reset", #"{"effectiveAt":"\#(laterInItsMinute)"}"#)
            #expect(sameMinute.status == 400)
            #expect(sameMinute.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "effectiveAt")
            let future = try await node.post(
                "/api/v1/subjects/acme/entitlements/\(id)/reset", #"{"effectiveAt":"2999-01-01T00:00:00Z"}"#)
            #expect(future.status == 400)
            let after = try await node.get("/api/v1/subjects/acme/entitlements/\(id)")
            #expect(after.json?["lastReset"]?.stringValue == after.json?["currentUsagePeriod"]?["from"]?.stringValue)
        }
    }

    @Test func issueAfterResetGrantsTheDefault() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let id = try await entitlement(node, extra: #","issueAfterReset":50"#)
            let grants = try await node.get("/api/v1/subjects/acme/entitlements/\(id)/grants")
            let only = try #require(grants.json?.arrayValue?.first)
            #expect(grants.json?.arrayValue?.count == 1)
            #expect(JSONWriter.string(only["annotations"] ?? .null) == #"{"issueAfterReset":true}"#)
            #expect(only["priority"].map(JSONWriter.string) == "1")
            #expect(only["maxRolloverAmount"].map(JSONWriter.string) == "50")
            #expect(only["effectiveAt"]?.stringValue == start.description)
            #expect(
                try await node.get("/api/v1/subjects/acme/entitlements/\(id)/value").json?["balance"].map(
                    JSONWriter.string) == "50")
        }
    }

    @Test func booleanAndStaticEntitlements() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            #expect(try await node.post("/api/v1/features", #"{"key":"sso","name":"SSO"}"#).status == 201)
            let config = #"{\"integrations\":[\"github\"]}"#
            let created = try await node.post(
                "/api/v2/customers/acme/entitlements", #"{"type":"static","featureKey":"sso","config":"\#(config)"}"#)
            #expect(created.status == 201)
            #expect(created.json?["config"]?.stringValue == #"{"integrations":["github"]}"#)
            #expect(
                try await node.get("/api/v2/customers/acme/entitlements/sso/value").body
                    == #"{"config":"{\"integrations\":[\"github\"]}","hasAccess":true}"#)
            let overridden = try await node.request(
                .PUT, "/api/v2/customers/acme/entitlements/sso/override",
                body: #"{"type":"boolean","featureKey":"sso"}"#)
            #expect(overridden.status == 201)
            #expect(try await node.get("/api/v2/customers/acme/entitlements/sso/value").body == #"{"hasAccess":true}"#)
            let listed = try await node.get("/api/v2/customers/acme/entitlements?includeDeleted=true")
            #expect(listed.json?["totalCount"].map(JSONWriter.string) == "2")
            #expect(listed.json?["items"]?.arrayValue?.first?["activeTo"] != nil)
            #expect(
                try await node.get("/api/v2/customers/acme/entitlements").json?["totalCount"].map(JSONWriter.string)
                    == "1")

            let noConfig = try await node.post(
                "/api/v1/subjects/bob/entitlements", #"{"type":"static","featureKey":"sso"}"#)
            #expect(noConfig.status == 400)
            #expect(noConfig.json?["errors"].map(JSONWriter.string) == #"[{"field":"config","reason":"is required"}]"#)
            let badConfig = try await node.post(
                "/api/v1/subjects/bob/entitlements", #"{"type":"static","featureKey":"sso","config":"{nope"}"#)
            #expect(
                badConfig.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"config","reason":"must be a string holding JSON"}]"#)
            let booleanWithLimit = try await node.post(
                "/api/v1/subjects/bob/entitlements", #"{"type":"boolean","featureKey":"sso","isSoftLimit":true}"#)
            #expect(
                booleanWithLimit.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"isSoftLimit","reason":"is only allowed for metered entitlements"}]"#)
            let meteredWithoutMeter = try await node.post(
                "/api/v1/subjects/bob/entitlements",
                #"{"type":"metered","featureKey":"sso","usagePeriod":{"interval":"DAY"}}"#)
            #expect(meteredWithoutMeter.status == 400)
            #expect(meteredWithoutMeter.json?["detail"]?.stringValue == "featureKey the feature has no meter")
        }
    }

    @Test func grantsAreValidated() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let id = try await entitlement(node)
            let zero = try await grant(
                node, id, #"{"amount":0,"effectiveAt":"\#(start)","expiration":{"duration":"DAY","count":1}}"#)
            #expect(zero.json?["errors"].map(JSONWriter.string) == #"[{"field":"amount","reason":"must be positive"}]"#)
            let missing = try await grant(node, id, #"{"amount":5,"effectiveAt":"\#(start)"}"#)
            #expect(
                missing.json?["errors"].map(JSONWriter.string) == #"[{"field":"expiration","reason":"is required"}]"#)
            let v2 = try await node.post(
                "/api/v2/customers/acme/entitlements/tokens/grants", #"{"amount":5,"effectiveAt":"\#(start)"}"#)
            #expect(v2.status == 201)
            #expect(v2.json?["maxRolloverAmount"].map(JSONWriter.string) == "5")
            let early = try await grant(
                node, id,
                #"{"amount":5,"effectiveAt":"2020-01-01T00:00:00Z","expiration":{"duration":"DAY","count":1}}"#)
            #expect(early.status == 400)
            #expect(early.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "effectiveAt")
            let badPriority = try await grant(
                node, id,
                #"{"amount":5,"priority":0,"effectiveAt":"\#(start)","expiration":{"duration":"WEEK","count":1001}}"#)
            #expect(
                badPriority.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"priority","reason":"must be a whole number from 1 to 255"},"#
                    + #"{"field":"expiration.count","reason":"must be a whole number from 1 to 1000"}]"#)
        }
    }

    @Test func balancesSurviveARestart() async throws {
        let folder = NSTemporaryDirectory() + "tally-entitlements-\(UUID().uuidString)"
        var id = ""
        try await LiveNode.run(directory: folder) { node in
            try await seed(node)
            id = try await entitlement(node)
            _ = try await grant(
                node, id, #"{"amount":100,"effectiveAt":"\#(start)","expiration":{"duration":"YEAR","count":1}}"#)
            try await ingest(node, [eventJSON("1", subject: "acme", time: at(hours: 1), data: #"{"tokens": 70}"#)])
            #expect(
                try await node.post(
                    "/api/v1/subjects/acme/entitlements/\(id)/reset",
                    #"{"effectiveAt":"\#(at(hours: 2))","retainAnchor":true}"#
                ).status == 204)
        }
        try await LiveNode.run(directory: folder) { node in
            try await ingest(node, [eventJSON("2", subject: "acme", time: at(hours: 1), data: #"{"tokens": 500}"#)])
            let value = try await node.get("/api/v1/subjects/acme/entitlements/\(id)/value")
            // The late event is before the reset: the reset's snapshot (v1 grant, maxRollover 0) stands.
            #expect(
                value.body == #"{"balance":0,"hasAccess":false,"overage":0,"totalAvailableGrantAmount":0,"usage":0}"#)
            let state = try await node.get("/api/v1/subjects/acme/entitlements/\(id)")
            #expect(state.json?["lastReset"]?.stringValue == at(hours: 2))
            #expect(state.json?["currentUsagePeriod"]?["from"]?.stringValue == at(hours: 2))
        }
    }
}

extension EntitlementAPITests {
    @Test func historyAnswersWindowsAndRefusesBadParameters() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            let id = try await entitlement(node)
            _ = try await grant(
                node, id, #"{"amount":100,"effectiveAt":"\#(start)","expiration":{"duration":"YEAR","count":1}}"#)
            try await ingest(
                node,
                [
                    eventJSON("1", subject: "acme", time: at(hours: 1), data: #"{"tokens": 30}"#),
                    eventJSON("2", subject: "acme", time: at(hours: 26), data: #"{"tokens": 5}"#),
                ])
            let path = "/api/v1/subjects/acme/entitlements/\(id)/history"
            let reply = try await node.get(path + "?windowSize=HOUR&from=\(start)&to=\(at(hours: 3))")
            #expect(reply.status == 200)
            #expect(
                reply.json?["windowedHistory"].map(JSONWriter.string)
                    == #"[{"balanceAtStart":100,"period":{"from":"\#(start)","to":"\#(at(hours: 1))"},"usage":0},"#
                    + #"{"balanceAtStart":100,"period":{"from":"\#(at(hours: 1))","to":"\#(at(hours: 2))"},"#
                    + #""usage":30},{"balanceAtStart":70,"period":{"from":"\#(at(hours: 2))","to":"\#(at(hours: 3))"},"#
                    + #""usage":0}]"#)
            #expect(reply.json?["burndownHistory"]?.arrayValue?.count == 1)
            let defaults = try await node.get(path + "?windowSize=DAY")
            #expect(defaults.status == 200)
            #expect(defaults.json?["burndownHistory"]?.arrayValue?.first?["usage"].map(JSONWriter.string) == "35")
            let missing = try await node.get(path)
            #expect(
                missing.json?["errors"].map(JSONWriter.string) == #"[{"field":"windowSize","reason":"is required"}]"#)
            let early = try await node.get(path + "?windowSize=DAY&from=2020-01-01T00:00:00Z")
            #expect(early.status == 400)
            #expect(early.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "from")
            let zone = try await node.get(path + "?windowSize=DAY&windowTimeZone=Mars/Olympus")
            #expect(zone.status == 400)
            let tooMany = try await node.get(path + "?windowSize=MINUTE&to=\(at(hours: 240))")
            #expect(tooMany.status == 400)
            #expect(tooMany.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "windowSize")
        }
    }
}

extension EntitlementAPITests {
    @Test func overridesResetsAndFiltersAreChecked() async throws {
        try await LiveNode.run { node in
            try await seed(node)
            #expect(try await node.post("/api/v1/features", #"{"key":"sso","name":"SSO"}"#).status == 201)
            let badFilter = try await node.post(
                "/api/v1/features",
                #"{"key":"eu","name":"EU","meterSlug":"tokens_total","meterGroupByFilters":{"region":"eu"}}"#)
            #expect(
                badFilter.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"meterGroupByFilters.region","reason":"is not a group of meter tokens_total"}]"#)
            let id = try await entitlement(node)
            let otherFeature = try await node.request(
                .PUT, "/api/v1/subjects/acme/entitlements/\(id)/override",
                body: #"{"type":"boolean","featureKey":"sso"}"#)
            #expect(otherFeature.status == 400)
            #expect(otherFeature.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "featureKey")
            let otherCustomer = try await node.request(
                .PUT, "/api/v1/subjects/bob/entitlements/\(id)/override",
                body: #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"DAY"}}"#)
            #expect(otherCustomer.status == 400)
            #expect(
                otherCustomer.json?["errors"]?.arrayValue?.first?["reason"]?.stringValue
                    == "the entitlement belongs to another customer")
            let atStart = try await node.post(
                "/api/v1/subjects/acme/entitlements/\(id)/reset", #"{"effectiveAt":"\#(start)"}"#)
            #expect(atStart.status == 400)
            let nullExpiration = try await grant(
                node, id, #"{"amount":5,"effectiveAt":"\#(start)","expiration":null}"#)
            #expect(
                nullExpiration.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"expiration","reason":"is required"}]"#)
            #expect(try await node.get("/api/v1/subjects/acme/entitlements/\(id)/grants").json?.arrayValue?.count == 0)

            let issued = try await node.post(
                "/api/v2/customers/carol/entitlements",
                #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"MONTH"},"#
                    + #""issue":{"amount":20,"priority":3}}"#)
            #expect(issued.status == 201)
            #expect(issued.json?["issueAfterReset"].map(JSONWriter.string) == "20")
            #expect(issued.json?["issueAfterResetPriority"].map(JSONWriter.string) == "3")
            let withGrants = try await node.post(
                "/api/v2/customers/dave/entitlements",
                #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"MONTH"},"issueAfterReset":5,"#
                    + #""grants":[]}"#)
            #expect(
                withGrants.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"grants","reason":"is not supported: create the entitlement, then its grants "#
                    + #"(and never with issue)"}]"#)
            let control = try await node.get("/api/v1/subjects/a%00b/entitlements")
            #expect(control.status == 400)
            #expect(control.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "customer")
        }
    }
}
