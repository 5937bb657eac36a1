import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Customers, their usage attribution and the subject upsert through a real node's HTTP API.
@Suite struct CustomerAPITests {
    /// Two days ago, on a whole hour: where metering starts in these tests.
    let start: Timestamp = {
        let twoDaysAgo = Timestamp.now.micros - 2 * 86_400_000_000
        return Timestamp(micros: twoDaysAgo - twoDaysAgo % 3_600_000_000)
    }()

    func at(hours: Int) -> String { Timestamp(micros: start.micros + Int64(hours) * 3_600_000_000).description }

    let acme =
        #"{"name":"Acme","key":"acme","primaryEmail":"billing@acme.test","currency":"EUR","#
        + #""usageAttribution":{"subjectKeys":["acme-web","acme-api"]}}"#

    @Test func customersAreCreatedListedReplacedAndDeleted() async throws {
        try await LiveNode.run { node in
            let created = try await node.post("/api/v1/customers", acme)
            #expect(created.status == 201, "\(created.body)")
            let id = try #require(created.json?["id"]?.stringValue)
            #expect(created.json?["key"]?.stringValue == "acme")
            #expect(
                created.json?["usageAttribution"].map(JSONWriter.string) == #"{"subjectKeys":["acme-web","acme-api"]}"#)
            #expect(created.json?["currency"]?.stringValue == "EUR")
            let again = try await node.post("/api/v1/customers", #"{"name":"Acme 2","key":"acme"}"#)
            #expect(again.status == 409)
            #expect(again.json?["type"]?.stringValue == "urn:tally:problem:customer-exists")
            let stolen = try await node.post(
                "/api/v1/customers", #"{"name":"Thief","usageAttribution":{"subjectKeys":["acme-api"]}}"#)
            #expect(stolen.status == 409)
            #expect(stolen.json?["extensions"]?["conflictingEntityId"]?.stringValue == id)
            let invalid = try await node.post(
                "/api/v1/customers", #"{"name":"","currency":"eur","usageAttribution":{"subjectKeys":["a","a"]}}"#)
            #expect(invalid.status == 400)
            #expect(
                invalid.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"name","reason":"must not be empty"},{"field":"usageAttribution.subjectKeys","#
                    + #""reason":"must not repeat a key"},{"field":"currency","reason":"must be an ISO 4217 code of "#
                    + #"three upper-case letters"}]"#)
            let metadata = (0...100).map { #""k\#($0)":"v""# }.joined(separator: ",")
            let crowded = try await node.post("/api/v1/customers", #"{"name":"M","key":"m","metadata":{\#(metadata)}}"#)
            #expect(
                crowded.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"metadata","reason":"must have at most 100 members"}]"#)
            let keyless = try await node.post("/api/v1/customers", #"{"name":"Nameless"}"#)
            #expect(keyless.status == 400)
            #expect(keyless.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "key")
            #expect(try await node.post("/api/v1/customers", #"{"name":"Beta","key":"beta"}"#).status == 201)
            let page = try await node.get("/api/v1/customers?pageSize=1")
            #expect(page.json?["totalCount"].map(JSONWriter.string) == "2")
            #expect(page.json?["items"]?.arrayValue?.first?["name"]?.stringValue == "Acme")
            #expect(
                try await node.get("/api/v1/customers?subject=acme-web").json?["items"]?.arrayValue?.count == 1)
            #expect(try await node.get("/api/v1/customers/\(id)").json?["key"]?.stringValue == "acme")
            #expect(try await node.get("/api/v1/customers/acme").json?["id"]?.stringValue == id)
            let replaced = try await node.request(
                .PUT, "/api/v1/customers/acme",
                body: #"{"name":"Acme Inc","key":"acme","usageAttribution":{"subjectKeys":["acme-web"]}}"#)
            #expect(replaced.status == 200)
            #expect(replaced.json?["name"]?.stringValue == "Acme Inc")
            #expect(replaced.json?["id"]?.stringValue == id)
            let freed = try await node.post(
                "/api/v1/customers", #"{"name":"Api","usageAttribution":{"subjectKeys":["acme-api"]}}"#)
            #expect(freed.status == 201)
            #expect(try await node.request(.DELETE, "/api/v1/customers/acme").status == 204)
            let gone = try await node.get("/api/v1/customers/acme")
            #expect(gone.status == 404)
            #expect(gone.json?["type"]?.stringValue == "urn:tally:problem:customer-not-found")
            #expect(try await node.get("/api/v1/customers").json?["totalCount"].map(JSONWriter.string) == "2")
            #expect(
                try await node.get("/api/v1/customers?includeDeleted=true").json?["totalCount"].map(JSONWriter.string)
                    == "3")
        }
    }

    @Test func balancesCountTheUsageOfEveryAttributedSubject() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(tokensMeter)
            #expect(
                try await node.post(
                    "/api/v1/features", #"{"key":"tokens","name":"Tokens","meterSlug":"tokens_total"}"#
                ).status == 201)
            let customer = try await node.post("/api/v1/customers", acme)
            let id = try #require(customer.json?["id"]?.stringValue)
            let entitlement = try await node.post(
                "/api/v2/customers/\(id)/entitlements",
                #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"MONTH","anchor":"\#(start)"},"#
                    + #""measureUsageFrom":"\#(start)","issue":{"amount":100}}"#)
            #expect(entitlement.status == 201, "\(entitlement.body)")
            #expect(entitlement.json?["subjectKey"]?.stringValue == "acme")
            let events = [
                eventJSON("1", subject: "acme-web", time: at(hours: 1), data: #"{"tokens": 30}"#),
                eventJSON("2", subject: "acme-api", time: at(hours: 2), data: #"{"tokens": 25}"#),
                eventJSON("3", subject: "acme", time: at(hours: 2), data: #"{"tokens": 7}"#),
                eventJSON("4", subject: "other", time: at(hours: 2), data: #"{"tokens": 1000}"#),
            ]
            #expect(try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]").status == 204)
            let expected = #"{"balance":45,"hasAccess":true,"overage":0,"totalAvailableGrantAmount":100,"usage":55}"#
            #expect(try await node.get("/api/v1/subjects/acme-api/entitlements/tokens/value").body == expected)
            #expect(try await node.get("/api/v1/customers/acme/entitlements/tokens/value").body == expected)
            let byKey = try await node.get("/api/v2/customers/acme/entitlements/tokens/value")
            #expect(byKey.json?["usage"].map(JSONWriter.string) == "55")
            #expect(
                try await node.get("/api/v2/customers/acme-web/entitlements/tokens/value").json?["usage"].map(
                    JSONWriter.string) == "55")
            let held = try await node.request(.DELETE, "/api/v1/customers/acme")
            #expect(held.status == 409)
            #expect(held.json?["type"]?.stringValue == "urn:tally:problem:customer-has-entitlements")
            let solo = try await node.post(
                "/api/v1/subjects/solo/entitlements",
                #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"DAY"}}"#)
            #expect(solo.status == 201)
            let orphaning = try await node.post(
                "/api/v1/customers",
                #"{"name":"Solo Ltd","key":"solo-ltd","usageAttribution":{"subjectKeys":["solo"]}}"#)
            #expect(orphaning.status == 409)
            #expect(orphaning.json?["type"]?.stringValue == "urn:tally:problem:subject-has-entitlements")
            let narrowed = try await node.request(
                .PUT, "/api/v1/customers/acme",
                body: #"{"name":"Acme","key":"acme","usageAttribution":{"subjectKeys":["acme-web"]}}"#)
            #expect(narrowed.status == 200)
            #expect(
                try await node.get("/api/v2/customers/acme/entitlements/tokens/value").json?["usage"].map(
                    JSONWriter.string) == "30")
            let renamed = try await node.request(.PUT, "/api/v1/customers/acme", body: #"{"name":"A","key":"acme-2"}"#)
            #expect(renamed.status == 409)
        }
    }

    @Test func distinctCountsAreCountedOnceAcrossTheSubjectsOfACustomer() async throws {
        try await LiveNode.run { node in
            try await node.createMeter(
                #"{"slug":"users","aggregation":"UNIQUE_COUNT","eventType":"login","valueProperty":"$.user"}"#)
            #expect(
                try await node.post("/api/v1/features", #"{"key":"users","name":"Users","meterSlug":"users"}"#).status
                    == 201)
            #expect(try await node.post("/api/v1/customers", acme).status == 201)
            let entitlement = try await node.post(
                "/api/v2/customers/acme/entitlements",
                #"{"type":"metered","featureKey":"users","usagePeriod":{"interval":"MONTH","anchor":"\#(start)"},"#
                    + #""measureUsageFrom":"\#(start)","issue":{"amount":10}}"#)
            #expect(entitlement.status == 201)
            let events = [
                eventJSON("1", subject: "acme-web", type: "login", time: at(hours: 1), data: #"{"user":"u1"}"#),
                eventJSON("2", subject: "acme-api", type: "login", time: at(hours: 1), data: #"{"user":"u1"}"#),
                eventJSON("3", subject: "acme-api", type: "login", time: at(hours: 2), data: #"{"user":"u2"}"#),
            ]
            #expect(try await node.post("/api/v1/events", "[" + events.joined(separator: ",") + "]").status == 204)
            let value = try await node.get("/api/v2/customers/acme/entitlements/users/value")
            #expect(value.json?["usage"].map(JSONWriter.string) == "2")
            #expect(value.json?["balance"].map(JSONWriter.string) == "8")
        }
    }

    @Test func subjectUpsertProvisionsACustomerPerUnattributedSubject() async throws {
        try await LiveNode.run { node in
            #expect(try await node.post("/api/v1/customers", acme).status == 201)
            let upserted = try await node.post(
                "/api/v1/subjects",
                #"[{"key":"s1","displayName":"Subject One","metadata":{"tier":"gold"}},{"key":"acme-web"}]"#)
            #expect(upserted.status == 200, "\(upserted.body)")
            let items = try #require(upserted.json?.arrayValue)
            #expect(items.map { $0["key"]?.stringValue } == ["s1", "acme-web"])
            #expect(items.first?["displayName"]?.stringValue == "Subject One")
            let provisioned = try await node.get("/api/v1/customers/s1")
            #expect(provisioned.json?["name"]?.stringValue == "Subject One")
            #expect(provisioned.json?["metadata"].map(JSONWriter.string) == #"{"tier":"gold"}"#)
            #expect(provisioned.json?["usageAttribution"].map(JSONWriter.string) == #"{"subjectKeys":["s1"]}"#)
            #expect(try await node.get("/api/v1/customers/acme-web").status == 404)
            #expect(try await node.get("/api/v1/customers").json?["totalCount"].map(JSONWriter.string) == "2")
            #expect(
                try await node.get("/api/v1/subjects").json?.arrayValue?.compactMap { $0["key"]?.stringValue }
                    == ["acme-web", "s1"])
            let again = try await node.post("/api/v1/subjects", #"[{"key":"s1","displayName":"Renamed"}]"#)
            #expect(again.json?.arrayValue?.first?["id"] == items.first?["id"])
            #expect(try await node.get("/api/v1/customers/s1").json?["name"]?.stringValue == "Renamed")
            let invalid = try await node.post("/api/v1/subjects", #"[{"key":""},7]"#)
            #expect(invalid.status == 400)
            #expect(
                invalid.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"[0].key","reason":"must not be empty"},{"field":"[1]","reason":"must be an "#
                    + #"object, got number"}]"#)
        }
    }
}
