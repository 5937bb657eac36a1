import Testing
@testable import TallyCore

@Suite struct JSONTests {
    @Test func parsesEveryKindAndKeepsNumberText() throws {
        let value = try JSONParser.parse(#"{"a": [1, -2.50, 3e2, true, false, null], "b": "x\"y\u00e9\ud83d\ude00", "c": {}}"#)
        #expect(value["a"] == .array([.number("1"), .number("-2.50"), .number("3e2"), .bool(true), .bool(false), .null]))
        #expect(value["b"] == .string("x\"yé😀"))
        #expect(value["c"] == .object([:]))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"abc", "{\"a\" 1}", "[1] 2", "\"\\x\"", "\"\\ud800\"", "nul"])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsDeepNesting() {
        let deep = String(repeating: "[", count: JSONParser.maxNestingDepth + 1) + String(repeating: "]", count: JSONParser.maxNestingDepth + 1)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let ok = String(repeating: "[", count: JSONParser.maxNestingDepth) + String(repeating: "]", count: JSONParser.maxNestingDepth)
        #expect((try? JSONParser.parse(ok)) != nil)
    }

    @Test func writerIsCanonicalAndRoundTrips() throws {
        let value = try JSONParser.parse(#"{"b": 1, "a": ["x\n", 2.5, null], "c": {"z": true, "y": "\u0001"}}"#)
        let text = JSONWriter.string(value)
        #expect(text == #"{"a":["x\n",2.5,null],"b":1,"c":{"y":"\u0001","z":true}}"#)
        #expect(try JSONParser.parse(text) == value)
    }
}
