import TallyCore
import Testing

@Suite struct FailureDetectorTests {
    static func at(_ seconds: Int64) -> Timestamp { Timestamp(micros: seconds * 1_000_000) }

    @Test func aWorkerIsSuspectedAtItsFirstMissedProbeAndDownOnlyAfterTheFailureTimeout() {
        var detector = FailureDetector(failureTimeoutMicros: 5_000_000)
        #expect(detector.state == .unknown)
        #expect(!detector.hasAnswered)
        #expect(detector.record(.answered, at: Self.at(0)) == .up)
        #expect(detector.hasAnswered)
        #expect(detector.record(.timedOut, at: Self.at(1)) == .suspect)
        #expect(detector.silentSince == Self.at(1))
        #expect(detector.record(.timedOut, at: Self.at(5)) == .suspect)
        #expect(!detector.refusesRequests)
        #expect(detector.record(.timedOut, at: Self.at(6)) == .down)
        #expect(detector.refusesRequests)
        #expect(detector.record(.timedOut, at: Self.at(60)) == .down)
        #expect(detector.record(.answered, at: Self.at(61)) == .up)
        #expect(detector.silentSince == nil)
        #expect(!detector.refusesRequests)
    }

    @Test func aBusyWorkerThatAnswersBetweenSlowProbesIsNeverDeclaredDown() {
        var detector = FailureDetector(failureTimeoutMicros: 5_000_000)
        var states: [FailureDetector.State] = []
        for second in stride(from: Int64(0), to: 60, by: 4) {
            states.append(detector.record(.timedOut, at: Self.at(second)))
            states.append(detector.record(.answered, at: Self.at(second + 2)))
        }
        #expect(!states.contains(.down))
        #expect(states.filter { $0 == .suspect }.count == 15)
    }

    @Test func aRefusedConnectionFailsRequestsAtOnceButIsNotADeathBeforeTheTimeout() {
        var detector = FailureDetector(failureTimeoutMicros: 5_000_000)
        #expect(detector.record(.unreachable, at: Self.at(10)) == .suspect)
        #expect(detector.refusesRequests)
        #expect(!detector.hasAnswered)
        #expect(detector.unreachableSince == Self.at(10))
        #expect(detector.record(.timedOut, at: Self.at(12)) == .suspect)
        #expect(detector.unreachableSince == Self.at(10))
        #expect(detector.record(.unreachable, at: Self.at(15)) == .down)
        #expect(detector.record(.answered, at: Self.at(16)) == .up)
        #expect(detector.unreachableSince == nil)
        #expect(!detector.refusesRequests)
    }

    @Test func aMissedProbesSilenceStartsWhenItWasSent() {
        var detector = FailureDetector(failureTimeoutMicros: 5_000_000)
        #expect(detector.record(.answered, at: Self.at(0)) == .up)
        #expect(detector.record(.timedOut, at: Self.at(2), sentAt: Self.at(1)) == .suspect)
        #expect(detector.silentSince == Self.at(1))
        #expect(detector.record(.timedOut, at: Self.at(5), sentAt: Self.at(4)) == .suspect)
        #expect(detector.record(.timedOut, at: Self.at(6), sentAt: Self.at(5)) == .down)
    }

    @Test func aClockThatGoesBackDoesNotDeclareAWorkerDown() {
        var detector = FailureDetector(failureTimeoutMicros: 5_000_000)
        #expect(detector.record(.timedOut, at: Self.at(100)) == .suspect)
        #expect(detector.record(.timedOut, at: Timestamp(micros: .min)) == .suspect)
    }
}
