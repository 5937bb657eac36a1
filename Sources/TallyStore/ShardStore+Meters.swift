import GRDB
import Logging
import TallyCore

extension ShardStore {
    /// All meters, optionally with deleted ones.
    public func listMeters(includeDeleted: Bool) async throws -> [MeterDefinition] {
        if !includeDeleted { return meters }
        return try await aggregates.read { db in try ShardStore.loadMeters(db, includeDeleted: true) }
    }

    /// Creates a meter and starts its back-fill from the raw events already stored (`MeterBuild`). Only the
    /// registration holds the events writer, for one short transaction; a back-fill of at most
    /// `backfillInlinePositions` positions finishes before this returns, a larger one runs in the background.
    public func createMeter(_ spec: MeterSpec, id: String? = nil, now: Timestamp = .now) async throws -> MeterDefinition
    {
        let meter = MeterDefinition(id: id ?? ULID.make(time: now), spec: spec, createdAt: now)
        _ = try await commitWithEventsHeld(
            prepare: { _ in },
            { _, events, db in
                guard
                    try Int.fetchOne(
                        db, sql: "SELECT 1 FROM meters WHERE slug = ? AND deleted_at IS NULL",
                        arguments: [spec.slug]) == nil
                else {
                    throw StoreError.slugTaken(spec.slug)
                }
                try self.save(meter, db: db)
                return try ShardStore.startBuild(of: meter, events: events, aggregates: db)
            }, then: { build in self.applyMeterChanges([(meter.id, meter)], rebuilt: [(meter.id, build)]) })
        await finishSmallBuilds([meter.id])
        return meter
    }

    /// Applies an update; a changed `groupBy` back-fills the meter's aggregates again, as `createMeter` does.
    public func updateMeter(
        idOrSlug: String, _ update: MeterUpdate, now: Timestamp = .now
    ) async throws -> MeterDefinition {
        guard let current = meter(idOrSlug: idOrSlug) else { throw StoreError.meterNotFound(idOrSlug) }
        let updated = update.applied(to: current, now: now)
        let rebuild = updated.groupBy != current.groupBy
        _ = try await commitWithEventsHeld(
            prepare: { db in if rebuild { try ShardStore.dropAggregates(of: updated.id, db: db) } },
            { _, events, db -> [(id: String, build: MeterBuild?)] in
                try self.save(updated, db: db)
                guard rebuild else { return [] }
                return [(updated.id, try ShardStore.startBuild(of: updated, events: events, aggregates: db))]
            }, then: { rebuilt in self.applyMeterChanges([(updated.id, updated)], rebuilt: rebuilt) })
        if rebuild { await finishSmallBuilds([updated.id]) }
        return updated
    }

    /// Marks a meter deleted and drops its aggregates; raw events stay.
    public func deleteMeter(idOrSlug: String, now: Timestamp = .now) async throws {
        guard var meter = meter(idOrSlug: idOrSlug) else { throw StoreError.meterNotFound(idOrSlug) }
        meter.deletedAt = now
        try await commit(
            in: aggregates,
            { [meter] db in
                try self.save(meter, db: db)
                try ShardStore.dropAggregates(of: meter.id, db: db)
                try ShardStore.endBuild(of: meter.id, db: db)
            }, then: { [meter] in self.applyMeterChanges([(meter.id, nil)], rebuilt: [(meter.id, nil)]) })
    }

    /// Publishes committed meter changes: the live meter set, and for each meter whose aggregates were dropped
    /// (to be back-filled, or deleted) no pending partials and its build, if one started. Call only from a
    /// `commit`'s effects.
    func applyMeterChanges(
        _ changes: [(id: String, meter: MeterDefinition?)], rebuilt: [(id: String, build: MeterBuild?)]
    ) {
        for meter in rebuilt { pending.removeMeter(meter.id) }
        builds.withLock { builds in
            for meter in rebuilt { builds[meter.id] = meter.build }
        }
        setLiveMeters(changes)
    }

    static func dropAggregates(of meterID: String, db: Database) throws {
        for table in ["rollup_agg", "rollup_unique", "total_agg", "total_unique"] {
            try db.execute(
                sql: "DELETE FROM \(table) WHERE meter = (SELECT number FROM meters WHERE id = ?)", arguments: [meterID]
            )
        }
    }

    /// Creates the meters of `specs` that do not exist yet, by slug (meters declared in config).
    public func ensureMeters(_ specs: [MeterSpec]) async throws -> [MeterDefinition] {
        var created: [MeterDefinition] = []
        for spec in specs where meter(idOrSlug: spec.slug) == nil {
            created.append(try await createMeter(spec))
        }
        return created
    }

    func save(_ meter: MeterDefinition, db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO meters(id, slug, definition, deleted_at) VALUES (?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET slug = excluded.slug, definition = excluded.definition,
                    deleted_at = excluded.deleted_at
                """, arguments: [meter.id, meter.slug, JSONWriter.string(meter.json), meter.deletedAt?.micros])
    }

    /// Recomputes every aggregate of `meter` (every resolution) from the raw events in `events` in the caller's
    /// transaction, flushing every `chunkEvents` events, ends a running build of it, and records the last event it
    /// covers so a replay after a crash does not count those events again (opening a store whose schema changed,
    /// and slot data changes). The caller drops the meter's pending partials and build once the transaction
    /// committed.
    static func rebuildAggregates(
        of meter: MeterDefinition, events: Database, aggregates db: Database, chunkEvents: Int, logger: Logger
    ) throws {
        try ShardStore.dropAggregates(of: meter.id, db: db)
        try ShardStore.endBuild(of: meter.id, db: db)
        try db.execute(
            sql: "UPDATE meters SET rebuilt_through_seq = ? WHERE id = ?",
            arguments: [try ShardStore.position(events), meter.id])
        var buffer = AggregateBuffer()
        var scanned = 0
        let cursor = try Row.fetchCursor(
            events,
            sql: "SELECT body, time_us FROM events NOT INDEXED WHERE type = \(StoredText.parameter) AND time_us >= ?",
            arguments: [StoredText.argument(meter.eventType), meter.eventFrom?.micros ?? Int64.min])
        while let row = try cursor.next() {
            guard let event = StoredEvent.decode(row[0], timeMicros: row[1]) else { continue }
            buffer.add(PreparedEvent.samples(of: event, meters: [meter]), of: event)
            scanned += 1
            if scanned % chunkEvents == 0 { try buffer.flush(db) }
        }
        try buffer.flush(db)
        logger.info("back-filled meter", metadata: ["meter": "\(meter.slug)", "events": "\(scanned)"])
    }
}
