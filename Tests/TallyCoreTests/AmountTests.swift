import Testing

@testable import TallyCore

@Suite struct AmountTests {
    @Test(arguments: [
        ("0", "0"), ("12", "12"), ("-0.5", "-0.5"), ("1.500", "1.5"), ("0.000000001", "0.000000001"),
        ("3e2", "300"), ("1.5E-3", "0.0015"), ("-12.340000000", "-12.34"), ("+7", "7"),
        ("123456789012345678901.123456789", "123456789012345678901.123456789"),
    ])
    func parsesAndPrintsExactly(input: String, expected: String) {
        #expect(Amount(parsing: input)?.description == expected)
    }

    @Test(arguments: [
        "", "abc", "1.2.3", "0.0000000001", "1e-10", "--1", "1e", ".", "1e999", "999999999999999999999999999999999",
    ])
    func rejectsNonNumbersAndLostPrecision(input: String) {
        #expect(Amount(parsing: input) == nil)
    }

    @Test func sumIsOrderIndependent() {
        let values = ["0.1", "0.2", "0.3", "1000000000000.000000001", "-0.7"].compactMap { Amount(parsing: $0) }
        let forward = values.reduce(Amount.zero) { $0.adding($1)! }
        let backward = values.reversed().reduce(Amount.zero) { $0.adding($1)! }
        #expect(forward == backward)
        #expect(forward.description == "999999999999.900000001")
    }

    @Test func divisionRoundsHalfAwayFromZero() {
        #expect(Amount(parsing: "1")!.divided(by: 3).description == "0.333333333")
        #expect(Amount(parsing: "2")!.divided(by: 3).description == "0.666666667")
        #expect(Amount(parsing: "-2")!.divided(by: 3).description == "-0.666666667")
        #expect(Amount(parsing: "10")!.divided(by: 4).description == "2.5")
    }

    @Test func sortableBytesPreserveOrderAndRoundTrip() {
        let values = ["-1000", "-0.000000001", "0", "0.000000001", "1", "99999999999999"].compactMap {
            Amount(parsing: $0)
        }
        let encoded = values.map(\.sortableBytes)
        #expect(encoded == encoded.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(encoded.map { Amount(sortableBytes: $0)! } == values)
        #expect(Amount(sortableBytes: [1, 2, 3]) == nil)
    }
}
