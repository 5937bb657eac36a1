import TallyCore

/// What anti-entropy has done since the coordinator started: rounds, slots compared, and the copies found different
/// and re-copied (the `antiEntropy` member of `GET /api/v1/cluster`).
public struct AntiEntropyStatus: Sendable, Hashable {
    /// One copy found different from its slot's owner.
    public struct Mismatch: Sendable, Hashable {
        public var slot: Int
        public var worker: String
        public var owner: String
        public var ownerEvents: Int64
        public var copyEvents: Int64
        public var at: Timestamp
    }

    public var rounds: Int64 = 0
    public var slotsCompared: Int64 = 0
    /// Copies found different, each re-copied from the slot's owner.
    public var mismatches: Int64 = 0
    public var lastRoundAt: Timestamp?
    public var lastMismatch: Mismatch?

    public init() {}

    public func json(intervalMs: Int, slotsPerRound: Int) -> JSONValue {
        func number<T: BinaryInteger>(_ value: T) -> JSONValue { .number(String(value)) }
        let last: JSONValue =
            lastMismatch.map { mismatch in
                .object([
                    "slot": number(mismatch.slot), "worker": .string(mismatch.worker), "owner": .string(mismatch.owner),
                    "ownerEvents": number(mismatch.ownerEvents), "copyEvents": number(mismatch.copyEvents),
                    "at": .string(mismatch.at.description),
                ])
            } ?? .null
        return .object([
            "intervalMs": number(intervalMs), "slotsPerRound": number(slotsPerRound), "rounds": number(rounds),
            "slotsCompared": number(slotsCompared), "mismatches": number(mismatches),
            "lastRoundAt": lastRoundAt.map { .string($0.description) } ?? .null, "lastMismatch": last,
        ])
    }
}
