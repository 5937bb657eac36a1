import Testing

@testable import TallyCore

@Suite struct WindowCalendarTests {
    func t(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    @Test func dayWindowsFollowLocalMidnightAcrossDST() {
        let newYork = WindowCalendar(timeZoneIdentifier: "America/New_York")!
        let spring = newYork.window(.day, containing: t("2024-03-10T12:00:00Z"))
        #expect(spring.start == t("2024-03-10T05:00:00Z"))
        #expect(spring.end == t("2024-03-11T04:00:00Z"))
        #expect(spring.end.micros - spring.start.micros == 23 * 3600 * 1_000_000)
        let autumn = newYork.window(.day, containing: t("2024-11-03T12:00:00Z"))
        #expect(autumn.start == t("2024-11-03T04:00:00Z"))
        #expect(autumn.end == t("2024-11-04T05:00:00Z"))
    }

    @Test func hourWindowsInHalfHourZones() {
        let kolkata = WindowCalendar(timeZoneIdentifier: "Asia/Kolkata")!
        let window = kolkata.window(.hour, containing: t("2024-01-01T10:10:00Z"))
        #expect(window.start == t("2024-01-01T09:30:00Z"))
        #expect(window.end == t("2024-01-01T10:30:00Z"))
    }

    @Test func monthAndMinuteWindows() {
        let berlin = WindowCalendar(timeZoneIdentifier: "Europe/Berlin")!
        let month = berlin.window(.month, containing: t("2024-02-15T00:00:00Z"))
        #expect(month.start == t("2024-01-31T23:00:00Z"))
        #expect(month.end == t("2024-02-29T23:00:00Z"))
        let utc = WindowCalendar(timeZoneIdentifier: "UTC")!
        let minute = utc.window(.minute, containing: t("2024-01-01T00:00:59.999Z"))
        #expect(minute.start == t("2024-01-01T00:00:00Z"))
        #expect(minute.end == t("2024-01-01T00:01:00Z"))
    }

    @Test func unknownZoneIsRejected() {
        #expect(WindowCalendar(timeZoneIdentifier: "Mars/Olympus") == nil)
    }
}
