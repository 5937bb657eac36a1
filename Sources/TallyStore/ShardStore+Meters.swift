import GRDB
import Logging
import TallyCore

extension ShardStore {
    /// All meters, optionally with deleted ones.
    public func listMeters(includeDeleted: Bool) async throws -> [MeterDefinition] {
        if !includeDeleted { return meters }
        return try await aggregates.read { db in try ShardStore.loadMeters(db, includeDeleted: true) }
    }

    /// Creates a meter and back-fills it from the raw events already stored, in one transaction of the aggregates
    /// file taken while no event commits.
    public func createMeter(_ spec: MeterSpec, id: String? = nil, now: Timestamp = .now) async throws -> MeterDefinition
    {
        let meter = MeterDefinition(id: id ?? ULID.make(time: now), spec: spec, createdAt: now)
        try await commitWithEventsHeld(
            { events, db in
                guard
                    try Int.fetchOne(
                        db, sql: "SELECT 1 FROM meters WHERE slug = ? AND deleted_at IS NULL",
                        arguments: [spec.slug]) == nil
                else {
                    throw StoreError.slugTaken(spec.slug)
                }
                try self.save(meter, db: db)
                try self.rebuildAggregates(of: meter, events: events, aggregates: db)
            }, then: { self.applyMeterChanges([(meter.id, meter)], rebuilt: [meter.id]) })
        return meter
    }

    /// Applies an update; a changed `groupBy` rebuilds the meter's aggregates from raw events.
    public func updateMeter(
        idOrSlug: String, _ update: MeterUpdate, now: Timestamp = .now
    ) async throws -> MeterDefinition {
        guard let current = meter(idOrSlug: idOrSlug) else { throw StoreError.meterNotFound(idOrSlug) }
        let updated = update.applied(to: current, now: now)
        let rebuild = updated.groupBy != current.groupBy
        try await commitWithEventsHeld(
            { events, db in
                try self.save(updated, db: db)
                if rebuild { try self.rebuildAggregates(of: updated, events: events, aggregates: db) }
            }, then: { self.applyMeterChanges([(updated.id, updated)], rebuilt: rebuild ? [updated.id] : []) })
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
            }, then: { [meter] in self.applyMeterChanges([(meter.id, nil)], rebuilt: [meter.id]) })
    }

    /// Publishes committed meter changes: the live meter set, and no pending partials for meters whose
    /// aggregates were rebuilt or dropped. Call only from a `commit`'s effects.
    func applyMeterChanges(_ changes: [(id: String, meter: MeterDefinition?)], rebuilt: [String]) {
        for id in rebuilt { pending.removeMeter(id) }
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

    /// Recomputes every aggregate of `meter` from raw events; see the static form.
    func rebuildAggregates(of meter: MeterDefinition, events: Database, aggregates: Database) throws {
        try ShardStore.rebuildAggregates(
            of: meter, events: events, aggregates: aggregates, chunkEvents: configuration.backfillChunkEvents,
            logger: logger)
    }

    /// Recomputes every aggregate of `meter` (every resolution) from the raw events in `events`, flushing every
    /// `chunkEvents` events, and records the last event it covers so a replay after a crash does not count those
    /// events again. The caller drops the meter's pending partials once the transaction committed
    /// (`applyMeterChanges`).
    static func rebuildAggregates(
        of meter: MeterDefinition, events: Database, aggregates db: Database, chunkEvents: Int, logger: Logger
    ) throws {
        try ShardStore.dropAggregates(of: meter.id, db: db)
        try db.execute(
            sql: "UPDATE meters SET rebuilt_through_seq = ? WHERE id = ?",
            arguments: [try ShardStore.position(events), meter.id])
        var buffer = AggregateBuffer()
        var scanned = 0
        let cursor = try Row.fetchCursor(
            events, sql: "SELECT body, time_us FROM events NOT INDEXED WHERE type = ? AND time_us >= ?",
            arguments: [meter.eventType, meter.eventFrom?.micros ?? Int64.min])
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
