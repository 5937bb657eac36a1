import Testing

@testable import TallyCore

@Suite struct JSONTests {
    @Test func parsesEveryKindAndKeepsNumberText() throws {
        let value = try JSONParser.parse(
            #"{"a": [1, -2.50, 3e2, true, false, null], "b": "x\"y\u00e9\ud83d\ude00", "c": {}}"#)
        #expect(
            value["a"] == .array([.number("1"), .number("-2.50"), .number("3e2"), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("x\"yé😀"))
        #expect(value["c"] == .object([:]))
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"abc", "{\"a\" 1}", "[1] 2", "\"\\x\"", "\"\\ud800\"",
        "nul",
    ])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsDeepNesting() {
        let deep =
            String(repeating: "[", count: JSONParser.maxNestingDepth + 1)
            + String(repeating: "]", count: JSONParser.maxNestingDepth + 1)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let ok =
            String(repeating: "[", count: JSONParser.maxNestingDepth)
            + String(repeating: "]", count: JSONParser.maxNestingDepth)
        #expect((try? JSONParser.parse(ok)) != nil)
    }

    @Test func writerIsCanonicalAndRoundTrips() throws {
        let value = try JSONParser.parse(#"{"b": 1, "a": ["x\n", 2.5, null], "c": {"z": true, "y": "\u0001"}}"#)
        let text = JSONWriter.string(value)
        #expect(text == #"{"a":["x\n",2.5,null],"b":1,"c":{"y":"\u0001","z":true}}"#)
        #expect(try JSONParser.parse(text) == value)
    }

    @Test func repeatedNamesKeepTheLastValueInSmallAndLargeObjects() throws {
        #expect(try JSONParser.parse(#"{"a": 1, "b": 2, "a": 3}"#) == .object(["a": .number("3"), "b": .number("2")]))
        let members = (0..<40).map { "\"k\($0 % 20)\": \($0)" }.joined(separator: ",")
        let large = try #require(try JSONParser.parse("{" + members + "}").objectValue)
        #expect(large.count == 20)
        #expect(large["k3"] == .number("23"))
        #expect(large.keys.first == "k0")
    }

    @Test func objectEqualityIgnoresMemberOrder() throws {
        let a = try JSONParser.parse(#"{"x": 1, "y": [true]}"#)
        let b = try JSONParser.parse(#"{"y": [true], "x": 1}"#)
        #expect(a == b)
        #expect(Set([a, b]).count == 1)
        var object = JSONObject()
        object["x"] = .null
        object["x"] = nil
        #expect(object.isEmpty)
    }
}
