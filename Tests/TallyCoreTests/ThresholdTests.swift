import Testing

@testable import TallyCore

/// Which thresholds of a balance-threshold rule a value crosses (notes §5.3, §7 rows 8–10).
@Suite struct ThresholdTests {
    func value(usage: Int, balance: Int, total: Int) -> MeteredValue {
        MeteredValue(
            hasAccess: balance > 0, balance: Amount(balance), usage: Amount(usage), overage: .zero,
            totalAvailableGrantAmount: Amount(total), grantBalances: [:])
    }

    func rule(_ thresholds: [(String, Int)]) -> RuleSpec {
        RuleSpec(
            kind: .balanceThreshold, name: "r", channels: ["c"],
            thresholds: thresholds.map { Threshold(type: $0.0, value: Amount($0.1)) }, features: [], disabled: false,
            metadata: nil)
    }

    @Test func numberMeansUsageAndEqualityDoesNotFire() {
        // Notes §7 rows 8 and 9: NUMBER 10 fires when usage > 10, not when the balance < 10; usage == value does not.
        #expect(rule([("NUMBER", 10)]).crossed(by: value(usage: 10, balance: 5, total: 15)).isEmpty)
        #expect(rule([("NUMBER", 10)]).crossed(by: value(usage: 11, balance: 89, total: 100)).map(\.type) == ["NUMBER"])
        #expect(rule([("balance_value", 0)]).crossed(by: value(usage: 100, balance: 0, total: 100)).count == 1)
        #expect(rule([("balance_value", 10)]).crossed(by: value(usage: 90, balance: 10, total: 100)).isEmpty)
    }

    @Test func keepsTheHighestUsageAndTheLowestBalanceThreshold() {
        let crossed = rule([("usage_value", 50), ("PERCENT", 80), ("balance_value", 30), ("balance_value", 25)])
            .crossed(by: value(usage: 90, balance: 10, total: 100))
        #expect(crossed.map { "\($0.type):\($0.value)" } == ["PERCENT:80", "balance_value:25"])
        #expect(rule([("PERCENT", 50)]).crossed(by: value(usage: 90, balance: 0, total: 0)).isEmpty)
        let tie = rule([("usage_value", 80), ("PERCENT", 80)]).crossed(by: value(usage: 90, balance: 10, total: 100))
        #expect(tie.map(\.type) == ["PERCENT"])
    }
}
