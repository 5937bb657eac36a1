import Foundation
import NIOHTTP1
import TallyCore
import TallyTestSupport
import Testing

/// Features, customers, entitlements, grants and inline enforcement through a coordinator and 3 worker processes
/// (replication factor 2) against one single node fed the same requests: the same answers, before and after the owner
/// of the customers' slots is killed and failed over.
@Suite(.serialized) struct ClusterEntitlementTests {
    static let meter = #"{"slug":"tokens_total","aggregation":"SUM","eventType":"usage","valueProperty":"$.tokens"}"#
    static let subjects = ["acme", "s1", "s2", "s3", "s4", "s5"]

    /// Two days ago, on a whole hour.
    static let start: Timestamp = {
        let twoDaysAgo = Timestamp.now.micros - 2 * 86_400_000_000
        return Timestamp(micros: twoDaysAgo - twoDaysAgo % 3_600_000_000)
    }()

    static func at(minutes: Int) -> String { Timestamp(micros: start.micros + Int64(minutes) * 60_000_000).description }

    static func event(_ id: String, subject: String, time: String, tokens: Int) -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"test","type":"usage","subject":"\#(subject)","#
            + #""time":"\#(time)","data":{"tokens":\#(tokens)}}"#
    }

    /// The worker that owns `key`'s slot in the cluster's first table.
    static func owner(of key: String) -> String {
        SlotPlanner.initial(workers: ["w1", "w2", "w3"]).owner(of: key)
    }

    /// A subject key whose slot another worker than `key`'s owns.
    static func keyOnAnotherWorker(than key: String) -> String {
        (0...).lazy.map { "other-\($0)" }.first { owner(of: $0) != owner(of: key) }!
    }

    /// The answers of the cluster and of the single node to one request.
    struct Replies {
        var cluster: HTTPReply
        var single: HTTPReply
        var statuses: [UInt] { [cluster.status, single.status] }
    }

    /// Sends the same request to the cluster and to the single node.
    static func both(
        _ cluster: ClusterProcesses, _ single: NodeProcess, _ method: HTTPMethod, _ path: String, _ body: String? = nil
    ) async throws -> Replies {
        let contentType = path == "/api/v1/events" ? "application/cloudevents-batch+json" : "application/json"
        let (clusterURL, singleURL) = (cluster.coordinator.baseURL + path, single.baseURL + path)
        async let fromCluster = TestHTTP.send(method, clusterURL, body: body, contentType: contentType)
        async let fromSingle = TestHTTP.send(method, singleURL, body: body, contentType: contentType)
        return try await Replies(cluster: fromCluster, single: fromSingle)
    }

    /// A value or history with the ids (the two create their own) replaced by their rank among the body's ids (both
    /// create them in the same order, and ids grow with time).
    static func comparable(_ body: String) -> String {
        var ids = Set<String>()
        var scanner = body[...]
        while let quote = scanner.firstIndex(of: "\"") {
            let rest = scanner[scanner.index(after: quote)...]
            guard let end = rest.firstIndex(of: "\"") else { break }
            let text = String(rest[..<end])
            if text.count == 26, ULID.isValid(text) { ids.insert(text) }
            scanner = rest[rest.index(after: end)...]
        }
        var result = body
        for (rank, id) in ids.sorted().enumerated() { result = result.replacingOccurrences(of: id, with: "id\(rank)") }
        return result
    }

    /// Every subject's value and hourly history since the start (by entitlement id: the entitlements are younger
    /// than the usage), and acme's access: the cluster's answers equal the single node's.
    static func expectSameBalances(_ cluster: ClusterProcesses, _ single: NodeProcess) async throws {
        let to = Timestamp(micros: start.micros + 4 * 3_600_000_000).description
        for path in ["/api/v1/customers/acme/access", "/api/v2/customers/acme/entitlements/tokens/value"] {
            let replies = try await both(cluster, single, .GET, path)
            #expect(replies.cluster.status == 200, "\(path): \(replies.cluster.body)")
            #expect(comparable(replies.cluster.body) == comparable(replies.single.body), "\(path) differs")
        }
        for subject in subjects {
            let base = "/api/v1/subjects/\(subject)/entitlements"
            let listed = try await both(cluster, single, .GET, base)
            let ids = [listed.cluster, listed.single].map { $0.json?.arrayValue?.first?["id"]?.stringValue ?? "" }
            var answers: [[String]] = []
            for (url, id) in zip([cluster.coordinator.baseURL, single.baseURL], ids) {
                var bodies: [String] = []
                for suffix in [
                    "/value", "/value?time=\(at(minutes: 90))", "/history?windowSize=HOUR&from=\(start)&to=\(to)",
                ] {
                    let reply = try await TestHTTP.send(.GET, url + base + "/" + id + suffix)
                    #expect(reply.status == 200, "\(base)/\(id)\(suffix): \(reply.body)")
                    bodies.append(comparable(reply.body))
                }
                answers.append(bodies)
            }
            #expect(answers[0] == answers[1], "\(subject) differs")
        }
    }

    @Test func balancesThroughTheCoordinatorEqualASingleNodesAndSurviveTheOwnersFailover() async throws {
        let cluster = try ClusterProcesses(workers: 3, probeIntervalMs: 100)
        let single = try NodeProcess(
            arguments: ["serve", "--port", "0", "--data", cluster.folder + "/single"])
        do {
            try await cluster.waitReady()
            #expect(try await Self.both(cluster, single, .POST, "/api/v1/meters", Self.meter).statuses == [201, 201])
            let feature = #"{"key":"tokens","name":"Tokens","meterSlug":"tokens_total"}"#
            #expect(try await Self.both(cluster, single, .POST, "/api/v1/features", feature).statuses == [201, 201])
            let again = try await Self.both(cluster, single, .POST, "/api/v1/features", feature)
            #expect(again.cluster.status == 409 && again.single.status == 409)
            #expect(again.cluster.json?["type"] == again.single.json?["type"])
            let unknownMeter = #"{"key":"other","name":"Other","meterSlug":"nope"}"#
            let refused = try await Self.both(cluster, single, .POST, "/api/v1/features", unknownMeter)
            #expect(refused.cluster.status == refused.single.status && refused.cluster.status == 404)
            let listed = try await cluster.api(.GET, "/api/v1/features")
            #expect(listed.json?.arrayValue?.compactMap { $0["key"]?.stringValue } == ["tokens"])

            let acme = #"{"key":"acme","name":"Acme","usageAttribution":{"subjectKeys":["acme"]}}"#
            let created = try await Self.both(cluster, single, .POST, "/api/v1/customers", acme)
            #expect(created.cluster.status == 201 && created.single.status == 201, "\(created.cluster.body)")
            let customerID = try #require(created.cluster.json?["id"]?.stringValue)
            let byID = try await cluster.api(.GET, "/api/v1/customers/\(customerID)")
            #expect(byID.status == 200 && byID.json?["key"] == .string("acme"), "\(byID.body)")
            let misplaced = Self.keyOnAnotherWorker(than: "acme")
            let split = try await cluster.api(
                .POST, "/api/v1/customers",
                #"{"key":"split","name":"Split","usageAttribution":{"subjectKeys":["\#(misplaced)"]}}"#)
            #expect(split.status == 400)
            #expect(split.json?["errors"]?.arrayValue?.first?["field"] == .string("usageAttribution.subjectKeys[0]"))
            let keyless = try await cluster.api(
                .POST, "/api/v1/customers", #"{"name":"Nobody","usageAttribution":{"subjectKeys":[]}}"#)
            #expect(keyless.status == 400 && keyless.json?["errors"]?.arrayValue?.first?["field"] == .string("key"))

            let renamed = try await Self.both(
                cluster, single, .PUT, "/api/v1/customers/acme",
                #"{"key":"acme","name":"Acme Inc","usageAttribution":{"subjectKeys":["acme"]}}"#)
            #expect(renamed.statuses == [200, 200], "\(renamed.cluster.body)")
            #expect(renamed.cluster.json?["name"] == .string("Acme Inc"))
            let moved = try await cluster.api(
                .PUT, "/api/v1/customers/acme",
                #"{"key":"\#(misplaced)","name":"Acme","usageAttribution":{"subjectKeys":[]}}"#)
            #expect(moved.status == 400 && moved.json?["errors"]?.arrayValue?.first?["field"] == .string("key"))
            // Subjects of every slot in one upsert: answered in the order asked, each provisioned where it lives.
            let upsert =
                "[" + (1...5).map { #"{"key":"s\#($0)","displayName":"S\#($0)"}"# }.joined(separator: ",") + "]"
            let upserted = try await Self.both(cluster, single, .POST, "/api/v1/subjects", upsert)
            #expect(upserted.statuses == [200, 200], "\(upserted.cluster.body)")
            let keys = [upserted.cluster, upserted.single].map {
                $0.json?.arrayValue?.compactMap { $0["key"]?.stringValue } ?? []
            }
            #expect(keys[0] == ["s1", "s2", "s3", "s4", "s5"] && keys[1] == keys[0])

            let period = #""usagePeriod":{"interval":"MONTH","anchor":"\#(Self.start)"}"#
            for subject in Self.subjects {
                let base = subject == "acme" ? "/api/v2/customers/acme" : "/api/v1/subjects/\(subject)"
                let body =
                    #"{"type":"metered","featureKey":"tokens",\#(period),"measureUsageFrom":"\#(Self.start)","#
                    + #""issueAfterReset":100}"#
                let made = try await Self.both(cluster, single, .POST, base + "/entitlements", body)
                #expect(made.cluster.status == 201 && made.single.status == 201, "\(made.cluster.body)")
            }
            let grant =
                #"{"amount":50,"effectiveAt":"\#(Self.at(minutes: 30))","priority":1,"#
                + #""expiration":{"duration":"YEAR","count":1}}"#
            let granted = try await Self.both(
                cluster, single, .POST, "/api/v1/subjects/s1/entitlements/tokens/grants", grant)
            #expect(granted.cluster.status == 201 && granted.single.status == 201, "\(granted.cluster.body)")
            var events: [String] = []
            for index in 0..<240 {
                events.append(
                    Self.event(
                        "e\(index)", subject: Self.subjects[index % Self.subjects.count],
                        time: Self.at(minutes: index), tokens: 1 + index % 7))
            }
            let batch = "[" + events.joined(separator: ",") + "]"
            #expect(try await Self.both(cluster, single, .POST, "/api/v1/events", batch).statuses == [204, 204])
            try await Self.expectSameBalances(cluster, single)

            // Ids differ between the two; each is found wherever its owner keeps it.
            let clusterGrant = try #require(granted.cluster.json?["id"]?.stringValue)
            let singleGrant = try #require(granted.single.json?["id"]?.stringValue)
            let at = Self.at(minutes: 60)
            let voided = try await cluster.api(.DELETE, "/api/v1/grants/\(clusterGrant)?at=\(at)")
            #expect(voided.status == 204, "\(voided.body)")
            let voidedSingle = try await TestHTTP.send(
                .DELETE, single.baseURL + "/api/v1/grants/\(singleGrant)?at=\(at)")
            #expect(voidedSingle.status == 204)
            let missing = try await cluster.api(.DELETE, "/api/v1/grants/01JZZZZZZZZZZZZZZZZZZZZZZZ")
            #expect(missing.status == 404)
            let entitlementID = try #require(
                try await cluster.api(.GET, "/api/v1/subjects/s2/entitlements").json?.arrayValue?.first?["id"]?
                    .stringValue)
            let byEntitlementID = try await cluster.api(.GET, "/api/v1/entitlements/\(entitlementID)")
            #expect(byEntitlementID.status == 200 && byEntitlementID.json?["subjectKey"] == .string("s2"))
            try await Self.expectSameBalances(cluster, single)

            // The owner of acme's slot dies: its replica takes over with every customer, entitlement and grant.
            let lost = Self.owner(of: "acme")
            cluster.killWorker(lost)
            _ = try await ReplicationTests.status(of: cluster) { status in
                ReplicationTests.worker(lost, in: status)?["lost"] == .bool(true)
            }
            try await Self.expectSameBalances(cluster, single)
            let reset = #"{"effectiveAt":"\#(Self.at(minutes: 150))"}"#
            let resets = try await Self.both(
                cluster, single, .POST, "/api/v2/customers/acme/entitlements/tokens/reset", reset)
            #expect(resets.cluster.status == 204 && resets.single.status == 204, "\(resets.cluster.body)")
            try await Self.expectSameBalances(cluster, single)
        } catch {
            _ = single.stop()
            await cluster.stop()
            throw error
        }
        _ = single.stop()
        await cluster.stop()
    }

    @Test func enforcementThroughTheCoordinatorRefusesExactlyTheOverLimitEvents() async throws {
        let cluster = try ClusterProcesses(workers: 3, probeIntervalMs: 100)
        do {
            try await cluster.waitReady()
            #expect(try await cluster.api(.POST, "/api/v1/meters", Self.meter).status == 201)
            let feature = #"{"key":"tokens","name":"Tokens","meterSlug":"tokens_total","enforcement":"reject"}"#
            #expect(try await cluster.api(.POST, "/api/v1/features", feature).status == 201)
            let entitlement = try await cluster.api(
                .POST, "/api/v2/customers/acme/entitlements",
                #"{"type":"metered","featureKey":"tokens","#
                    + #""usagePeriod":{"interval":"MONTH","anchor":"\#(Self.start)"},"#
                    + #""measureUsageFrom":"\#(Self.start)","issue":{"amount":100}}"#)
            #expect(entitlement.status == 201, "\(entitlement.body)")
            let now = Timestamp.now.description
            let url = cluster.coordinator.baseURL + "/api/v1/events"
            @Sendable func send(_ events: [(String, String, Int)]) async throws -> HTTPReply {
                let batch = events.map { Self.event($0.0, subject: $0.1, time: now, tokens: $0.2) }
                return try await TestHTTP.send(
                    .POST, url, body: "[" + batch.joined(separator: ",") + "]",
                    contentType: "application/cloudevents-batch+json")
            }
            let other = Self.keyOnAnotherWorker(than: "acme")
            #expect(try await send([("1", "acme", 60)]).status == 204)
            // Two owners: each checks its part first, then both store.
            let crossing = try await send([("2", other, 5), ("3", "acme", 30), ("4", "acme", 20)])
            #expect(crossing.status == 204, "\(crossing.body)")
            let value = try await cluster.api(.GET, "/api/v2/customers/acme/entitlements/tokens/value")
            #expect(value.json?["balance"].map(JSONWriter.string) == "0")
            #expect(value.json?["overage"].map(JSONWriter.string) == "10")
            // acme's owner refuses its part, so the other owner's part is not stored either.
            let refused = try await send([("5", other, 5), ("6", "acme", 1)])
            #expect(refused.status == 403, "\(refused.body)")
            #expect(refused.json?["type"]?.stringValue == "urn:tally:problem:entitlement-access-denied")
            #expect(
                refused.json?["errors"].map(JSONWriter.string)
                    == #"[{"field":"[1]","reason":"customer \"acme\" has no access to feature tokens"}]"#)
            let stored = try await cluster.api(
                .GET, "/api/v1/meters/tokens_total/query?subject=\(other)&from=2020-01-01T00:00:00Z")
            #expect(stored.json?["data"]?.arrayValue?.first?["value"].map(JSONWriter.string) == "5", "\(stored.body)")
            // A grant pays the overage first, then admits exactly 40 more tokens.
            let grant = try await cluster.api(
                .POST, "/api/v2/customers/acme/entitlements/tokens/grants",
                #"{"amount":50,"effectiveAt":"\#(Self.at(minutes: 1))"}"#)
            #expect(grant.status == 201, "\(grant.body)")
            let statuses = try await withThrowingTaskGroup(of: UInt.self) { group in
                for index in 0..<8 {
                    group.addTask { try await send([("c\(index)", "acme", 10)]).status }
                }
                return try await group.reduce(into: [UInt]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 204 }.count == 4, "\(statuses)")
            #expect(statuses.filter { $0 == 403 }.count == 4, "\(statuses)")
            let final = try await cluster.api(.GET, "/api/v2/customers/acme/entitlements/tokens/value")
            #expect(final.json?["usage"].map(JSONWriter.string) == "150", "\(final.body)")
            #expect(final.json?["balance"].map(JSONWriter.string) == "0")
            #expect(final.json?["hasAccess"] == .bool(false))
            // Every copy holds what the owners stored, and nothing refused.
            #expect(try await cluster.storedEvents() == 8)
            #expect(try await cluster.storedEvents(.replica) == 8)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    @Test func balancesMoveWithTheirSlotsWhenAWorkerJoins() async throws {
        let cluster = try ClusterProcesses(workers: 2, spares: 1, probeIntervalMs: 100)
        do {
            try await cluster.waitReady()
            #expect(try await cluster.api(.POST, "/api/v1/meters", Self.meter).status == 201)
            let feature = #"{"key":"tokens","name":"Tokens","meterSlug":"tokens_total"}"#
            #expect(try await cluster.api(.POST, "/api/v1/features", feature).status == 201)
            let plan = SlotMovePlan.adding("w3", to: SlotPlanner.initial(workers: ["w1", "w2"]))
            let subjects = (0..<30).map { "m\($0)" }
            let moving = subjects.filter { plan.movingSlots.contains(SlotTable.slot(of: $0, slotCount: 1024)) }
            #expect(!moving.isEmpty)
            var events: [String] = []
            for (index, subject) in subjects.enumerated() {
                let made = try await cluster.api(
                    .POST, "/api/v1/subjects/\(subject)/entitlements",
                    #"{"type":"metered","featureKey":"tokens","#
                        + #""usagePeriod":{"interval":"MONTH","anchor":"\#(Self.start)"},"#
                        + #""measureUsageFrom":"\#(Self.start)","issueAfterReset":\#(100 + index)}"#)
                #expect(made.status == 201, "\(made.body)")
                events.append(Self.event("e\(index)", subject: subject, time: Self.at(minutes: index), tokens: index))
            }
            let batch = "[" + events.joined(separator: ",") + "]"
            let sent = try await cluster.api(
                .POST, "/api/v1/events", batch, contentType: "application/cloudevents-batch+json")
            #expect(sent.status == 204)
            func values() async throws -> [String] {
                var bodies: [String] = []
                for subject in subjects {
                    let reply = try await cluster.api(.GET, "/api/v1/subjects/\(subject)/entitlements/tokens/value")
                    #expect(reply.status == 200, "\(subject): \(reply.body)")
                    bodies.append(reply.body)
                }
                return bodies
            }
            let before = try await values()
            #expect(before[7].contains(#""balance":100,"#) && before[7].contains(#""usage":7"#), "\(before[7])")

            try cluster.startWorker("w3")
            let added = try await cluster.api(
                .POST, "/api/v1/cluster/workers", #"{"name":"w3","url":"\#(cluster.workerURL("w3"))"}"#)
            #expect(added.status == 202, "\(added.body)")
            _ = try await ClusterMoveTests.waitForSettled(cluster)
            #expect(try await values() == before)
            // A subject whose slot moved: its entitlement lives on w3 now, and takes grants there.
            let grant = try await cluster.api(
                .POST, "/api/v1/subjects/\(moving[0])/entitlements/tokens/grants",
                #"{"amount":1000,"effectiveAt":"\#(Self.at(minutes: 0))","expiration":{"duration":"YEAR","count":1}}"#)
            #expect(grant.status == 201, "\(grant.body)")
            let value = try await cluster.api(.GET, "/api/v1/subjects/\(moving[0])/entitlements/tokens/value")
            #expect(value.json?["totalAvailableGrantAmount"] != nil && value.json?["hasAccess"] == .bool(true))
            #expect(value.body != before[subjects.firstIndex(of: moving[0])!])
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
