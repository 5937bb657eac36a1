import TallyCore
import Testing

@testable import TallyHTTP

@Suite struct ProblemTests {
    @Test func aWorkersProblemIsAnsweredAgainAsItIs() throws {
        let json = try JSONParser.parse(
            #"{"type":"urn:tally:problem:query-too-large","title":"Unprocessable Content","status":422,"detail":"d","#
                + #""instance":"/internal/v1/query","errors":[{"field":"from","reason":"r"}],"limit":3}"#)
        let problem = Problem(relaying: json, status: 400, fallback: "f")
        #expect(problem.status.code == 422)
        #expect(problem.type == "urn:tally:problem:query-too-large")
        #expect(problem.detail == "d")
        #expect(problem.errors == [FieldError(field: "from", reason: "r")])
        #expect(problem.extensions == ["limit": .number("3")])
        let plain = Problem(relaying: nil, status: 413, fallback: "answered 413: too big")
        #expect(plain.status.code == 413)
        #expect(plain.errors == [FieldError(field: "request", reason: "answered 413: too big")])
    }
}
