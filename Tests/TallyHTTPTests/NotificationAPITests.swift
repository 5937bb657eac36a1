import Crypto
import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyHTTP

/// Channels, rules, threshold notifications and their signed webhook deliveries, through a real node and a real
/// HTTP receiver.
@Suite struct NotificationAPITests {
    static let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
    let api = EntitlementAPITests()

    func setUp(_ node: LiveNode, hook: String) async throws -> (channel: String, entitlement: String) {
        try await api.seed(node)
        let entitlement = try await api.entitlement(node)
        let grant = try await api.grant(
            node, entitlement,
            #"{"amount":100,"effectiveAt":"\#(api.start)","expiration":{"duration":"YEAR","count":1}}"#)
        #expect(grant.status == 201)
        let channel = try await node.post(
            "/api/v1/notification/channels",
            #"{"type":"WEBHOOK","name":"ops","url":"\#(hook)","signingSecret":"\#(Self.secret)","#
                + #""customHeaders":{"X-Team":"billing"}}"#)
        #expect(channel.status == 201)
        #expect(channel.json?["signingSecret"]?.stringValue == Self.secret)
        return (try #require(channel.json?["id"]?.stringValue), entitlement)
    }

    /// Checks a delivery's Standard Webhooks and Svix signatures against the secret.
    func verify(_ delivery: WebhookReceiver.Delivery) -> Bool {
        guard let id = delivery.headers["webhook-id"], let timestamp = delivery.headers["webhook-timestamp"],
            delivery.headers["svix-id"] == id, delivery.headers["svix-timestamp"] == timestamp,
            delivery.headers["svix-signature"] == delivery.headers["webhook-signature"],
            let sent = delivery.headers["webhook-signature"]
        else { return false }
        let key = SymmetricKey(data: Data(base64Encoded: String(Self.secret.dropFirst(6)))!)
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(delivery.body)".utf8), using: key)
        return sent == "v1," + Data(code).base64EncodedString()
    }

    @Test func thresholdsFireOncePerPeriodSignedAndRetried() async throws {
        let receiver = WebhookReceiver(statuses: [500])
        try await receiver.run { hook in
            try await LiveNode.run(notifications: true) { node in
                let (channel, _) = try await setUp(node, hook: hook)
                let rule = try await node.post(
                    "/api/v1/notification/rules",
                    #"{"type":"entitlements.balance.threshold","name":"80%","channels":["\#(channel)"],"#
                        + #""thresholds":[{"type":"PERCENT","value":50},{"type":"balance_value","value":0}]}"#)
                #expect(rule.status == 201)
                try await api.ingest(
                    node, [eventJSON("1", subject: "acme", time: api.at(hours: 1), data: #"{"tokens": 60}"#)])
                try #require(
                    await eventually(seconds: 90) { receiver.deliveries.count >= 2 }, "a failed attempt, then a retry")
                let (first, second) = (receiver.deliveries[0], receiver.deliveries[1])
                #expect(verify(first) && verify(second))
                #expect(first.headers["webhook-id"] == second.headers["webhook-id"])
                #expect(first.body == second.body)
                #expect(first.headers["x-team"] == "billing")
                let payload = try JSONParser.parse(first.body)
                #expect(payload["type"]?.stringValue == "entitlements.balance.threshold")
                #expect(payload["data"]?["threshold"].map(JSONWriter.string) == #"{"type":"PERCENT","value":50}"#)
                #expect(
                    payload["data"]?["value"].map(JSONWriter.string)
                        == #"{"balance":40,"hasAccess":true,"overage":0,"totalAvailableGrantAmount":100,"usage":60}"#)
                // The node records the second attempt once the receiver has answered it.
                var events = try await node.get("/api/v1/notification/events")
                #expect(
                    await eventually(seconds: 90) {
                        events = (try? await node.get("/api/v1/notification/events")) ?? events
                        let delivery = events.json?["items"]?.arrayValue?.first?["deliveryStatus"]?.arrayValue?.first
                        return delivery?["state"]?.stringValue == "SUCCESS"
                    })
                #expect(events.json?["totalCount"].map(JSONWriter.string) == "1")
                let status = events.json?["items"]?.arrayValue?.first?["deliveryStatus"]?.arrayValue?.first
                #expect(status?["state"]?.stringValue == "SUCCESS")
                #expect(
                    status?["attempts"]?.arrayValue?.compactMap { $0["response"]?["statusCode"].map(JSONWriter.string) }
                        == ["500", "204"])

                // The same threshold again in the same period: nothing new. The balance reaching 0: the balance kind.
                try await api.ingest(
                    node, [eventJSON("2", subject: "acme", time: api.at(hours: 2), data: #"{"tokens": 10}"#)])
                try await api.ingest(
                    node, [eventJSON("3", subject: "acme", time: api.at(hours: 3), data: #"{"tokens": 40}"#)])
                try #require(await eventually(seconds: 90) { receiver.deliveries.count == 3 })
                let third = try JSONParser.parse(receiver.deliveries[2].body)
                #expect(third["data"]?["threshold"].map(JSONWriter.string) == #"{"type":"balance_value","value":0}"#)
                #expect(
                    try await node.get("/api/v1/notification/events").json?["totalCount"].map(JSONWriter.string) == "2")
                #expect(receiver.deliveries.count == 3)
            }
        }
    }

    @Test func aPendingDeliverySurvivesARestart() async throws {
        let folder = NSTemporaryDirectory() + "tally-notify-\(UUID().uuidString)"
        var hookURL = ""
        var eventID = ""
        // The receiver is gone (connection refused): the delivery stays pending in the outbox.
        try await WebhookReceiver().run { hook in hookURL = hook }
        // A receiver that is down refuses the connection at once; the client retries connecting until its timeout.
        let downReceiver = WebhookDelivery.Timeouts(webhookTimeout: .seconds(10), connectTimeout: .seconds(1))
        try await LiveNode.run(directory: folder, notifications: true, webhookTimeouts: downReceiver) { node in
            let (channel, _) = try await setUp(node, hook: hookURL)
            let rule = try await node.post(
                "/api/v1/notification/rules",
                #"{"type":"entitlements.balance.threshold","name":"usage","channels":["\#(channel)"],"#
                    + #""thresholds":[{"type":"usage_value","value":5}]}"#)
            let ruleID = try #require(rule.json?["id"]?.stringValue)
            let test = try await node.post("/api/v1/notification/rules/\(ruleID)/test", "")
            #expect(test.status == 201)
            eventID = try #require(test.json?["id"]?.stringValue)
            #expect(
                await eventually(seconds: 90) {
                    let event = try? await node.get("/api/v1/notification/events/\(eventID)")
                    return event?.json?["deliveryStatus"]?.arrayValue?.first?["attempts"]?.arrayValue?.isEmpty == false
                })
        }
        let receiver = WebhookReceiver()
        try await receiver.run { hook in
            try await LiveNode.run(directory: folder, notifications: true) { node in
                let channels = try await node.get("/api/v1/notification/channels")
                let channel = try #require(channels.json?["items"]?.arrayValue?.first?["id"]?.stringValue)
                let update = try await node.request(
                    .PUT, "/api/v1/notification/channels/\(channel)",
                    body: #"{"type":"WEBHOOK","name":"ops","url":"\#(hook)"}"#)
                #expect(update.status == 200)
                #expect(update.json?["signingSecret"]?.stringValue == Self.secret)
                try #require(await eventually(seconds: 90) { receiver.deliveries.count >= 1 })

                #expect(receiver.deliveries.first?.headers["webhook-id"] == eventID)
                #expect(verify(try #require(receiver.deliveries.first)))
                #expect(
                    try await node.request(.DELETE, "/api/v1/notification/channels/\(channel)").status == 400,
                    "a rule still uses it")
            }
        }
    }

    @Test func channelsAndRulesAreValidated() async throws {
        try await LiveNode.run { node in
            try await api.seed(node)
            let generated = try await node.post(
                "/api/v1/notification/channels", #"{"type":"WEBHOOK","name":"x","url":"https://example.invalid/h"}"#)
            #expect(generated.status == 201)
            #expect(generated.json?["signingSecret"]?.stringValue?.hasPrefix("whsec_") == true)
            let bad = try await node.post(
                "/api/v1/notification/channels",
                #"{"type":"EMAIL","name":"x","url":"ftp://x","signingSecret":"short"}"#)
            #expect(
                bad.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"type","reason":"must be WEBHOOK"},"#
                    + #"{"field":"url","reason":"must be an http or https URL of at most 2048 bytes"},"#
                    + #"{"field":"signingSecret","#
                    + #""reason":"must match ^(whsec_)?[a-zA-Z0-9+/=]{32,100}$ and be base64"}]"#
            )
            for url in ["http://127.0.0.1:70000/hook", "http://", "http://[::1", "https://host:0/x"] {
                let refused = try await node.post(
                    "/api/v1/notification/channels", #"{"type":"WEBHOOK","name":"x","url":"\#(url)"}"#)
                #expect(refused.status == 400, "\(url)")
                #expect(refused.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "url")
            }
            let channel = try #require(generated.json?["id"]?.stringValue)
            let twice = try await node.post(
                "/api/v1/notification/rules",
                #"{"type":"entitlements.reset","name":"r","channels":["\#(channel)","\#(channel)"]}"#)
            #expect(
                twice.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"channels","reason":"must not repeat a channel"}]"#)
            let zero = try await node.post(
                "/api/v1/notification/rules",
                #"{"type":"entitlements.balance.threshold","name":"r","channels":["\#(channel)"],"#
                    + #""thresholds":[{"type":"usage_value","value":0}]}"#)
            #expect(
                zero.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"thresholds[0].value","reason":"must be positive for usage thresholds"}]"#)
            let unknown = try await node.post(
                "/api/v1/notification/rules",
                #"{"type":"entitlements.reset","name":"r","channels":["nope"],"features":["tokens"]}"#)
            #expect(unknown.status == 400)
            #expect(unknown.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "channels[0]")
            let reset = try await node.post(
                "/api/v1/notification/rules",
                #"{"type":"entitlements.reset","name":"r","channels":["\#(channel)"],"features":["tokens"]}"#)
            #expect(reset.status == 201)
            let ruleID = try #require(reset.json?["id"]?.stringValue)
            let test = try await node.post("/api/v1/notification/rules/\(ruleID)/test", "")
            #expect(test.json?["payload"]?["data"]?["threshold"] == nil, "a reset has no threshold")
            let eventID = try #require(test.json?["id"]?.stringValue)
            #expect(test.json?["payload"]?["id"]?.stringValue == eventID)
            let resend = try await node.post(
                "/api/v1/notification/events/\(eventID)/resend", #"{"channels":"\#(channel)"}"#)
            #expect(resend.json?["errors"]?.arrayValue?.first?["field"]?.stringValue == "channels")
            #expect(try await node.post("/api/v1/notification/events/\(eventID)/resend", "{}").status == 202)
            #expect(try await node.get("/api/v1/notification/events/nope").status == 404)
            #expect(try await node.request(.DELETE, "/api/v1/notification/rules/\(ruleID)").status == 204)
            #expect(try await node.get("/api/v1/notification/rules/\(ruleID)").json?["disabled"] == .bool(true))
            let changeDeleted = try await node.request(
                .PUT, "/api/v1/notification/rules/\(ruleID)",
                body: #"{"type":"entitlements.reset","name":"r2","channels":["\#(channel)"]}"#)
            #expect(changeDeleted.status == 409)
            #expect(try await node.request(.DELETE, "/api/v1/notification/channels/\(channel)").status == 204)
        }
    }
}
