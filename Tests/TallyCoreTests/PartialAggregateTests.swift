import Testing

@testable import TallyCore

@Suite struct PartialAggregateTests {
    static let values = ["3", "-1.5", "10.25", "0.000000001", "7"]

    func partial(_ values: [String], startingAt base: Int64 = 0) -> PartialAggregate {
        var partial = PartialAggregate()
        for (offset, text) in values.enumerated() {
            partial.add(
                MeterSample(amount: Amount(parsing: text), uniqueValue: Identifier(text), groupValues: [:]),
                at: Timestamp(micros: base + Int64(offset)))
        }
        return partial
    }

    @Test(arguments: [
        (MeterAggregation.sum, "18.750000001"), (.count, "5"), (.uniqueCount, "5"), (.avg, "3.75"),
        (.min, "-1.5"), (.max, "10.25"), (.latest, "7"),
    ])
    func everyAggregation(aggregation: MeterAggregation, expected: String) throws {
        #expect(try partial(Self.values).value(for: aggregation)?.description == expected)
    }

    @Test func emptyHasNoValue() throws {
        #expect(try PartialAggregate().value(for: .sum) == nil)
    }

    @Test(arguments: MeterAggregation.allCases)
    func mergeEqualsAggregatingAllAtOnce(aggregation: MeterAggregation) throws {
        let whole = partial(Self.values)
        var left = partial(Array(Self.values[0..<2]))
        let right = partial(Array(Self.values[2...]), startingAt: 2)
        var reversed = right
        reversed.merge(left)
        left.merge(right)
        #expect(try left.value(for: aggregation) == whole.value(for: aggregation))
        #expect(try reversed.value(for: aggregation) == whole.value(for: aggregation))
    }

    @Test func uniqueCountIsExactAcrossPartials() throws {
        var a = partial(["x", "y"])
        a.merge(partial(["y", "z"]))
        #expect(try a.value(for: .uniqueCount) == Amount(3))
        #expect(try a.value(for: .count) == Amount(4))
    }

    @Test func latestTiesBreakByValueWhateverTheOrder() throws {
        var first = PartialAggregate()
        first.add(MeterSample(amount: Amount(1), uniqueValue: nil, groupValues: [:]), at: Timestamp(micros: 5))
        first.add(MeterSample(amount: Amount(9), uniqueValue: nil, groupValues: [:]), at: Timestamp(micros: 5))
        var second = PartialAggregate()
        second.add(MeterSample(amount: Amount(9), uniqueValue: nil, groupValues: [:]), at: Timestamp(micros: 5))
        second.add(MeterSample(amount: Amount(1), uniqueValue: nil, groupValues: [:]), at: Timestamp(micros: 5))
        #expect(try first.value(for: .latest) == Amount(9))
        #expect(try second.value(for: .latest) == Amount(9))
    }
}
