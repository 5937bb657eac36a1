import TallyCore
import Testing

@Suite struct QueryPlanTests {
    static func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }
    static let utc = WindowCalendar(timeZoneIdentifier: "UTC")!

    static func describe(_ plan: QueryPlan) -> [String] {
        plan.pieces.map { "\($0.resolution) \($0.range.lowerBound)..<\($0.range.upperBound)" }
    }

    @Test func aRangeIsReadFromTheCoarsestBucketsInsideIt() {
        let plan = QueryPlan(
            range: Self.t("2024-03-01T22:17:00Z")..<Self.t("2024-03-05T01:03:00Z"), windowSize: nil, calendar: Self.utc)
        #expect(
            Self.describe(plan) == [
                "minute 2024-03-01T22:17:00Z..<2024-03-01T23:00:00Z",
                "hour 2024-03-01T23:00:00Z..<2024-03-02T00:00:00Z",
                "day 2024-03-02T00:00:00Z..<2024-03-05T00:00:00Z",
                "hour 2024-03-05T00:00:00Z..<2024-03-05T01:00:00Z",
                "minute 2024-03-05T01:00:00Z..<2024-03-05T01:03:00Z",
            ])
    }

    @Test func kolkataDaysTakeTheirHalfHoursFromMinutes() {
        let kolkata = WindowCalendar(timeZoneIdentifier: "Asia/Kolkata")!
        let plan = QueryPlan(
            range: Self.t("2024-03-01T18:30:00Z")..<Self.t("2024-03-02T18:30:00Z"), windowSize: .day, calendar: kolkata)
        #expect(
            Self.describe(plan) == [
                "minute 2024-03-01T18:30:00Z..<2024-03-01T19:00:00Z",
                "hour 2024-03-01T19:00:00Z..<2024-03-02T18:00:00Z",
                "minute 2024-03-02T18:00:00Z..<2024-03-02T18:30:00Z",
            ])
    }

    @Test func newYorkDaysAreReadInHoursAndUTCDaysInDays() {
        let newYork = WindowCalendar(timeZoneIdentifier: "America/New_York")!
        let range = Self.t("2024-03-09T05:00:00Z")..<Self.t("2024-03-12T04:00:00Z")
        #expect(
            Self.describe(QueryPlan(range: range, windowSize: .day, calendar: newYork)) == [
                "hour 2024-03-09T05:00:00Z..<2024-03-12T04:00:00Z"
            ])
        let days = Self.t("2024-03-09T00:00:00Z")..<Self.t("2024-03-12T00:00:00Z")
        #expect(
            Self.describe(QueryPlan(range: days, windowSize: .day, calendar: Self.utc)) == [
                "day 2024-03-09T00:00:00Z..<2024-03-12T00:00:00Z"
            ])
    }

    @Test func minuteWindowsAndEmptyRangesReadMinutesOrNothing() {
        let range = Self.t("2024-03-09T00:00:00Z")..<Self.t("2024-03-10T00:00:00Z")
        #expect(
            Self.describe(QueryPlan(range: range, windowSize: .minute, calendar: Self.utc)) == [
                "minute 2024-03-09T00:00:00Z..<2024-03-10T00:00:00Z"
            ])
        let empty = Self.t("2024-03-09T00:00:00Z")..<Self.t("2024-03-09T00:00:00Z")
        #expect(QueryPlan(range: empty, windowSize: .day, calendar: Self.utc).pieces.isEmpty)
    }

    @Test func bucketsFloorBeforeTheEpoch() {
        #expect(Resolution.day.floor(Self.t("1969-12-31T23:59:59Z")) == Self.t("1969-12-31T00:00:00Z"))
        #expect(Resolution.hour.ceiling(Self.t("1969-12-31T23:00:01Z")) == Self.t("1970-01-01T00:00:00Z"))
        #expect(Resolution.hour.ceiling(Self.t("2024-01-01T05:00:00Z")) == Self.t("2024-01-01T05:00:00Z"))
    }
}
