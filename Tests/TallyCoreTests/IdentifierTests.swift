import Testing

@testable import TallyCore

/// Identifiers are bytes: canonically equivalent but different strings are different customers, values and keys.
@Suite struct IdentifierTests {
    static let composed = "\u{e9}"
    static let decomposed = "e\u{301}"

    @Test func canonicallyEquivalentStringsAreDifferentIdentifiers() {
        #expect(Self.composed == Self.decomposed, "Swift's String equality is canonical, which is the trap")
        #expect(Identifier(Self.composed) != Identifier(Self.decomposed))
        #expect(Set([Identifier(Self.composed), Identifier(Self.decomposed)]).count == 2)
        #expect(Identifier(Self.decomposed) < Identifier(Self.composed), "byte order: 0x65 before 0xC3")
    }

    @Test func queryRowsKeepEquivalentSubjectsAndGroupValuesApart() throws {
        let meter = MeterDefinition(
            id: "m",
            spec: MeterSpec(
                slug: "s", aggregation: .uniqueCount, eventType: "t",
                valueProperty: try JSONPath(parsing: "$.v"),
                groupBy: ["g": try JSONPath(parsing: "$.g")]),
            createdAt: Timestamp(micros: 0))
        let query = MeterQuery(to: Timestamp(micros: 1_000_000_000), groupBy: ["subject", "g"])
        var accumulator = QueryAccumulator(meter: meter, query: query, calendar: try query.validate(for: meter).get())
        for (subject, group, unique) in [
            (Self.composed, Self.composed, Self.composed), (Self.composed, Self.composed, Self.decomposed),
            (Self.decomposed, Self.decomposed, Self.composed),
        ] {
            var partial = PartialAggregate()
            partial.add(
                MeterSample(amount: nil, uniqueValue: Identifier(unique), groupValues: ["g": group]),
                at: Timestamp(micros: 0))
            accumulator.add(time: Timestamp(micros: 0), subject: subject, groupValues: ["g": group], partial: partial)
        }
        let rows = try accumulator.result(now: Timestamp(micros: 1_000_000_000))
        #expect(rows.map(\.subject) == [Self.decomposed, Self.composed])
        #expect(rows.map { $0.value.description } == ["1", "2"])
        let groups: [[UInt8]?] = rows.map { row in (row.groupBy["g"] ?? nil).map { Array($0.utf8) } }
        #expect(groups == [Array(Self.decomposed.utf8), Array(Self.composed.utf8)])
    }

    @Test func filtersAndJSONMembersCompareBytes() throws {
        let query = MeterQuery(subjects: [Self.composed], filterGroupBy: ["g": [Self.decomposed]])
        #expect(query.accepts(subject: Self.composed, groupValues: ["g": Self.decomposed]))
        #expect(!query.accepts(subject: Self.decomposed, groupValues: ["g": Self.decomposed]))
        #expect(!query.accepts(subject: Self.composed, groupValues: ["g": Self.composed]))
        let object = try JSONParser.parse(#"{"\#(Self.composed)": 1, "\#(Self.decomposed)": 2}"#)
        #expect(object.objectValue?.count == 2)
        #expect(object[Self.decomposed] == .number("2"))
        #expect(try JSONPath(parsing: "$['\(Self.composed)']").evaluate(object) == .number("1"))
    }

    @Test func aMeterMatchesItsEventTypeByBytes() {
        let meter = MeterDefinition(
            id: "m", spec: MeterSpec(slug: "s", aggregation: .count, eventType: Self.composed),
            createdAt: Timestamp(micros: 0))
        func event(_ type: String) -> CloudEvent {
            CloudEvent(id: "1", source: "s", type: type, subject: "c", time: Timestamp(micros: 0), data: .null)
        }
        #expect(meter.matches(event(Self.composed)))
        #expect(!meter.matches(event(Self.decomposed)))
    }
}
