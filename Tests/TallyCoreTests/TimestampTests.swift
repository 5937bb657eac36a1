import Testing

@testable import TallyCore

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)), ("2024-01-01T00:00:00Z", 1_704_067_200_000_000),
        ("2024-01-01T01:00:00+01:00", 1_704_067_200_000_000), ("2023-12-31T19:00:00-05:00", 1_704_067_200_000_000),
        ("2024-02-29T12:00:00.5Z", 1_709_208_000_500_000), ("2024-01-01T00:00:00.123456789Z", 1_704_067_200_123_456),
        ("1969-12-31T23:59:59Z", -1_000_000),
    ])
    func parsesRFC3339(text: String, micros: Int64) {
        #expect(Timestamp(rfc3339: text)?.micros == micros)
    }

    @Test(arguments: [
        "2024-01-01", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T25:00:00Z",
        "2024-01-01T00:00:00+0100", "2024-01-01T00:00:00.Z", "yesterday",
    ])
    func rejectsInvalid(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func formatsUTC() {
        #expect(Timestamp(micros: 1_704_067_200_000_000).description == "2024-01-01T00:00:00Z")
        #expect(Timestamp(micros: 1_704_067_200_120_000).description == "2024-01-01T00:00:00.120Z")
        #expect(Timestamp(micros: 1_704_067_200_000_001).description == "2024-01-01T00:00:00.000001Z")
        #expect(Timestamp(micros: -1_000_000).description == "1969-12-31T23:59:59Z")
    }

    @Test func minuteBoundaries() {
        let t = Timestamp(rfc3339: "2024-01-01T10:05:30Z")!
        #expect(t.minuteFloor.description == "2024-01-01T10:05:00Z")
        #expect(t.minuteCeiling.description == "2024-01-01T10:06:00Z")
        let exact = Timestamp(rfc3339: "2024-01-01T10:05:00Z")!
        #expect(exact.minuteCeiling == exact)
        #expect(Timestamp(micros: -1).minuteFloor.micros == -60_000_000)
    }
}
