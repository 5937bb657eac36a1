import TallyCore

/// A worker being added and the slots moving onto it, as the coordinator stores it: the plan, the phase, and how far
/// each source's slots have been copied.
public struct SlotMove: Sendable, Hashable {
    /// Where a move stands. `copying`: the new worker pulls the sources' slots while they keep serving them.
    /// `switching`: the target table is the cluster's (its epoch is current), writes to the moving slots and queries
    /// wait while the sources take the new table and the last events are copied. `cleaning`: the new worker holds
    /// every event of its slots; writes to them and queries still wait while the sources delete what they gave up
    /// (from here on the move can no longer be cancelled). `done`: finished. `cancelled`: the addition was undone
    /// before the sources deleted anything.
    public enum Phase: String, Sendable, Hashable {
        case copying, switching, cleaning, done, cancelled
    }

    /// How far one source's slots have been copied.
    public struct Progress: Sendable, Hashable {
        /// The source position through which the new worker holds every event of these slots.
        public var copiedThrough: Int64 = 0
        /// The source's position at the last pull.
        public var sourcePosition: Int64 = 0
        public var events: Int64 = 0
        public var bytes: Int64 = 0

        public init() {}
    }

    public var id: String
    public var url: String
    public var plan: SlotMovePlan
    public var phase: Phase
    public var progress: [String: Progress]
    public var startedAt: Timestamp

    public init(
        id: String, url: String, plan: SlotMovePlan, phase: Phase, progress: [String: Progress], startedAt: Timestamp
    ) {
        self.id = id
        self.url = url
        self.plan = plan
        self.phase = phase
        self.progress = progress
        self.startedAt = startedAt
    }

    /// The name under which the new worker records its copy of `source`'s slots.
    public func cursor(source: String) -> String { "move-\(id)/\(source)" }

    /// Share of the sources' positions copied so far, 0 to 1.
    public var fractionCopied: Double {
        let total = progress.values.reduce(0.0) { $0 + Double($1.sourcePosition) }
        guard total > 0 else { return phase == .copying ? 0 : 1 }
        return min(1, progress.values.reduce(0.0) { $0 + Double($1.copiedThrough) } / total)
    }

    /// How fast the move goes and when its copy should end, as of `now`: bytes and events per second since it
    /// started, and the seconds left at that pace (nil before the first pull and once copying is over).
    public func pace(at now: Timestamp) -> (bytesPerSecond: Int64, eventsPerSecond: Int64, etaSeconds: Int64?) {
        let elapsed = Double(max(now.micros - startedAt.micros, 1)) / 1_000_000
        let bytes = Double(progress.values.reduce(Int64(0)) { $0 + $1.bytes })
        let events = Double(progress.values.reduce(Int64(0)) { $0 + $1.events })
        let fraction = fractionCopied
        let eta: Int64? =
            phase == .copying && fraction > 0 ? Int64((elapsed * (1 - fraction) / fraction).rounded()) : nil
        return (Int64((bytes / elapsed).rounded()), Int64((events / elapsed).rounded()), eta)
    }

    /// The `move` member of `GET /api/v1/cluster`, as of `now`.
    public func json(at now: Timestamp = .now) -> JSONValue {
        func number<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }
        let pace = self.pace(at: now)
        let sources: [JSONValue] = plan.sources.map { source in
            let progress = progress[source] ?? Progress()
            return .object([
                "worker": .string(source), "slots": number(plan.slotsBySource[source]?.count ?? 0),
                "copiedThrough": number(progress.copiedThrough), "sourcePosition": number(progress.sourcePosition),
                "events": number(progress.events), "bytes": number(progress.bytes),
            ])
        }
        return .object([
            "id": .string(id), "kind": .string(plan.kind.rawValue), "worker": .string(plan.worker), "url": .string(url),
            "phase": .string(phase.rawValue), "epoch": number(plan.target.epoch),
            "slots": number(plan.movingSlots.count),
            "events": number(progress.values.reduce(Int64(0)) { $0 + $1.events }),
            "bytes": number(progress.values.reduce(Int64(0)) { $0 + $1.bytes }),
            "progress": .number(String((fractionCopied * 1000).rounded() / 1000)),
            "bytesPerSecond": number(pace.bytesPerSecond), "eventsPerSecond": number(pace.eventsPerSecond),
            "etaSeconds": pace.etaSeconds.map { number($0) } ?? .null,
            "startedAt": .string(startedAt.description), "sources": .array(sources),
        ])
    }
}
