import TallyCore

/// A worker leaving the cluster, as the coordinator stores it: repairs copy every slot it holds to the workers that
/// keep them (`SlotMovePlan.draining`), then a drain move switches to the table without it and removes it, and the
/// coordinator empties it.
public struct WorkerDrain: Sendable, Hashable {
    public var id: String
    public var worker: String
    public var startedAt: Timestamp

    public init(id: String, worker: String, startedAt: Timestamp) {
        self.id = id
        self.worker = worker
        self.startedAt = startedAt
    }

    /// The `drain` member of `GET /api/v1/cluster` (and the body of the 202 that starts it) in `snapshot`: the
    /// slots the worker still owns and replicates, and the phase: `copying` while repairs copy its slots, then the
    /// drain move's phase (`switching`).
    public func json(in snapshot: ClusterSnapshot) -> JSONValue {
        let phase = snapshot.move.flatMap { $0.plan.kind == .drain ? $0.phase.rawValue : nil } ?? "copying"
        return .object([
            "id": .string(id), "kind": .string(SlotMovePlan.Kind.drain.rawValue), "worker": .string(worker),
            "phase": .string(phase), "startedAt": .string(startedAt.description),
            "slots": .number(String(snapshot.table.slots(ownedBy: worker).count)),
            "replicas": .number(String(snapshot.table.slots(replicatedBy: worker).count)),
        ])
    }
}
