import TallyCore

/// The coordinator's view of the cluster at one moment: workers, slot table, catalog (meters and features).
public struct ClusterSnapshot: Sendable {
    public var table: SlotTable
    /// Worker name → base URL.
    public var workerURLs: [String: String]
    /// Grows by one with every meter or feature change; workers report the version they hold.
    public var catalogVersion: Int64
    /// Every meter, deleted ones included, so workers learn of deletions.
    public var meters: [MeterDefinition]
    /// Every feature, archived ones included (entitlements to them keep working).
    public var features: [Feature]
    /// The unfinished move of slots (an addition or a repair), if any.
    public var move: SlotMove?
    /// Workers failed over and not emptied since: they hold stale copies and receive nothing until they are emptied.
    public var lostWorkers: Set<String> = []
    /// Workers that took an assignment once: a slot table they report lost means their data folder was lost.
    public var assignedWorkers: Set<String> = []
    /// The worker being drained, if any: repairs copy its slots to the others, then a drain move switches to the
    /// table without it and it leaves the cluster.
    public var drain: WorkerDrain?

    /// Slots whose writes wait: those moving while a move switches over or cleans up. (Releasing them before the
    /// sources' clean-up was measured worse: the clean-up then competes with the full load; docs/benchmarks.md.)
    public var fencedSlots: Set<Int> { queriesHeld ? move?.plan.movingSlots ?? [] : [] }

    /// Whether queries and listings wait: while a move switches over or cleans up, the sources may still hold what
    /// they gave up.
    public var queriesHeld: Bool { move?.phase == .switching || move?.phase == .cleaning }

    /// The live meter with this id or slug.
    public func liveMeter(_ idOrSlug: String) -> MeterDefinition? {
        meters.first { $0.deletedAt == nil && ($0.id == idOrSlug || $0.slug == idOrSlug) }
    }

    /// The live feature with this id or key.
    public func liveFeature(_ idOrKey: String) -> Feature? {
        features.first { $0.archivedAt == nil && ($0.id == idOrKey || $0.key == idOrKey) }
    }

    /// Workers in name order.
    public var workers: [String] { workerURLs.keys.sorted() }

    /// What the coordinator pushes to `worker`: its name, the slot table and the catalog.
    public func assignment(for worker: String) -> JSONValue {
        .object([
            "node": .string(worker), "table": table.json, "catalogVersion": .number(String(catalogVersion)),
            "meters": .array(meters.map(\.json)), "features": .array(features.map(\.json)),
        ])
    }
}
