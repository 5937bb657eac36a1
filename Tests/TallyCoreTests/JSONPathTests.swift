import Testing

@testable import TallyCore

@Suite struct JSONPathTests {
    let document = try! JSONParser.parse(#"{"a": {"b": 5, "c d": "x"}, "list": [{"n": "first"}, 7], "tokens": "12.5"}"#)

    @Test(arguments: [
        ("$.a.b", JSONValue.number("5")), ("$['a']['c d']", .string("x")), (#"$["a"].b"#, .number("5")),
        ("$.list[0].n", .string("first")), ("$.list[1]", .number("7")), ("$.tokens", .string("12.5")),
    ])
    func selects(path: String, expected: JSONValue) throws {
        #expect(try JSONPath(parsing: path).evaluate(document) == expected)
    }

    @Test(arguments: ["$.missing", "$.a.b.c", "$.list[5]", "$.a[0]", "$.list.n"])
    func missingGivesNil(path: String) throws {
        #expect(try JSONPath(parsing: path).evaluate(document) == nil)
    }

    @Test func rootSelectsDocument() throws {
        #expect(try JSONPath(parsing: "$").evaluate(document) == document)
    }

    @Test(arguments: ["a.b", "$..a", "$.a[", "$[x]", "$['a'", "$.a[*]", "$a"])
    func rejectsUnsupported(path: String) {
        #expect(throws: JSONPath.ParseError.self) { try JSONPath(parsing: path) }
    }
}
