import TallyCore
import Testing

@testable import TallyHTTP

@Suite struct AccessAPITests {
    @Test func apiKeysAreRequiredWhenConfigured() async throws {
        try await LiveNode.run(apiKeys: ["secret-1", "secret-2"]) { node in
            let anonymous = try await node.get("/api/v1/meters")
            #expect(anonymous.status == 401)
            #expect(anonymous.headers["WWW-Authenticate"] == ["Bearer"])
            #expect(anonymous.json?["type"] == .string("urn:tally:problem:unauthorized"))
            #expect(try await node.get("/api/v1/meters", headers: [("Authorization", "Bearer wrong")]).status == 401)
            #expect(try await node.get("/api/v1/meters", headers: [("Authorization", "secret-1")]).status == 401)
            #expect(try await node.get("/api/v1/meters", headers: [("Authorization", "Bearer secret-2")]).status == 200)
            #expect(try await node.post("/api/v1/events", eventJSON("a")).status == 401)
            #expect(node.store.eventCount == 0)
            #expect(try await node.get("/healthz").status == 200)
            #expect(try await node.get("/readyz").status == 200)
        }
    }

    @Test func healthAndUnknownRoutes() async throws {
        try await LiveNode.run { node in
            #expect(try await node.get("/healthz").json == .object(["status": .string("ok")]))
            #expect(
                try await node.get("/readyz").json == .object(["status": .string("ready"), "events": .number("0")]))
            let missing = try await node.get("/api/v1/nothing")
            #expect(missing.status == 404)
            #expect(missing.headers["Content-Type"] == ["application/problem+json"])
        }
    }
}
