import GRDB
import Logging
import TallyCore

extension ShardStore {
    /// The back-fill still running for a live meter, if any; queries of such a meter answer
    /// `StoreError.meterBuilding` unless they allow partial data.
    public func build(of meterID: String) -> MeterBuild? { builds.withLock { $0[meterID] } }

    /// Every back-fill still running, by meter id.
    public var runningBuilds: [String: MeterBuild] { builds.withLock { $0 } }

    /// Starts back-filling the saved `meter`, whose aggregates are dropped, from raw events, inside the caller's
    /// transaction of the aggregates file with the events writer held (`commitWithEventsHeld`'s `work`), so the
    /// position it reads is the last event the build covers and every later event is counted by ingestion: records
    /// the build in the meter's row. Returns nil when there is no event to scan. Once the transaction committed, the
    /// caller drops the meter's pending partials and publishes the build (`applyMeterChanges`).
    static func startBuild(
        of meter: MeterDefinition, events: Database, aggregates db: Database
    ) throws -> MeterBuild? {
        let target = try position(events)
        let number =
            (try Int64.fetchOne(db, sql: "SELECT build_number FROM meters WHERE id = ?", arguments: [meter.id]) ?? 0)
            + 1
        let build = try Int64.fetchOne(events, sql: "SELECT min(seq) FROM events").flatMap { first in
            let build = MeterBuild(number: number, fromSeq: first - 1, targetSeq: target, doneSeq: first - 1)
            return build.remainingPositions > 0 ? build : nil
        }
        try db.execute(
            sql: """
                UPDATE meters SET rebuilt_through_seq = ?, build_number = ?, build_from_seq = ?, build_target_seq = ?,
                    build_done_seq = ?
                WHERE id = ?
                """, arguments: [target, number, build?.fromSeq, build?.targetSeq, build?.doneSeq, meter.id])
        return build
    }

    /// Forgets a meter's running build in its row (the meter was rebuilt at once, or deleted).
    static func endBuild(of meterID: String, db: Database) throws {
        try db.execute(
            sql: """
                UPDATE meters SET build_from_seq = NULL, build_target_seq = NULL, build_done_seq = NULL
                WHERE id = ?
                """, arguments: [meterID])
    }

    /// The running builds recorded in the aggregates file, by meter id.
    static func loadBuilds(_ db: Database) throws -> [String: MeterBuild] {
        var builds: [String: MeterBuild] = [:]
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT id, build_number, build_from_seq, build_target_seq, build_done_seq FROM meters
                WHERE deleted_at IS NULL AND build_target_seq IS NOT NULL
                """)
        for row in rows {
            builds[row[0]] = MeterBuild(number: row[1], fromSeq: row[2], targetSeq: row[3], doneSeq: row[4])
        }
        return builds
    }

    /// Runs one chunk of one running build (meters in id order): reads up to `backfillChunkEvents` positions of raw
    /// events without holding any writer, then merges their partials and records the progress in one transaction
    /// of the aggregates file, applied only if the build is still the one read (the meter was not rebuilt, changed
    /// or deleted meanwhile). Returns whether builds remain.
    @discardableResult
    public func buildNextChunk() async throws -> Bool {
        guard let (meterID, _) = builds.withLock({ $0.min { $0.key < $1.key } }) else { return false }
        try await buildChunk(of: meterID)
        return builds.withLock { !$0.isEmpty }
    }

    /// Runs every running build to its end, chunk by chunk (tests, and callers that must wait).
    public func finishBuilds() async throws {
        while try await buildNextChunk() {}
    }

    /// Finishes at once the builds of `meterIDs` that have at most `backfillInlinePositions` positions left, so a
    /// meter created on a small store answers right away, and wakes the background builder for the others. The
    /// meter change is committed already: a chunk that fails here is logged and left to the background builder.
    func finishSmallBuilds(_ meterIDs: [String]) async {
        do {
            for id in meterIDs {
                while let build = build(of: id), build.remainingPositions <= configuration.backfillInlinePositions {
                    try await buildChunk(of: id)
                }
            }
        } catch {
            logger.error("meter back-fill step failed; the background builder retries", metadata: ["error": "\(error)"])
        }
        if !runningBuilds.isEmpty { requestBuilds() }
    }

    /// Asks the background builder (`MeterBuildService`) to run the pending builds.
    public func requestBuilds() { buildRequests.continuation.yield() }

    /// The signals `requestBuilds` sends, for the one `MeterBuildService` of this store.
    public var buildSignals: AsyncStream<Void> { buildRequests.stream }

    private func buildChunk(of meterID: String) async throws {
        guard let build = build(of: meterID) else { return }
        // A build exists only for a live meter (both change in the same commit effects).
        guard let meter = meter(idOrSlug: meterID) else { throw StoreError.meterNotFound(meterID) }
        let chunk = build.nextChunk(chunkPositions: Int64(configuration.backfillChunkEvents))
        let partials = try await pool.read { db in
            var buffer = AggregateBuffer()
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT body, time_us FROM events
                    WHERE seq BETWEEN ? AND ? AND type = \(StoredText.parameter) AND time_us >= ?
                    """,
                arguments: [
                    chunk.lowerBound, chunk.upperBound, StoredText.argument(meter.eventType),
                    meter.eventFrom?.micros ?? Int64.min,
                ])
            while let row = try cursor.next() {
                guard let event = StoredEvent.decode(row[0], timeMicros: row[1]) else { continue }
                buffer.add(PreparedEvent.samples(of: event, meters: [meter]), of: event)
            }
            return buffer
        }
        let next = build.advanced(through: chunk.upperBound)
        _ = try await commit(
            in: aggregates, durable: false,
            { db -> Bool in
                guard
                    try Bool.fetchOne(
                        db,
                        sql: """
                            SELECT build_number = ? AND build_done_seq = ? AND deleted_at IS NULL
                            FROM meters WHERE id = ?
                            """, arguments: [build.number, build.doneSeq, meterID]) ?? false
                else { return false }
                var buffer = partials
                try buffer.flush(db)
                if let next {
                    try db.execute(
                        sql: "UPDATE meters SET build_done_seq = ? WHERE id = ?", arguments: [next.doneSeq, meterID])
                } else {
                    try ShardStore.endBuild(of: meterID, db: db)
                }
                return true
            },
            then: { applied in
                guard applied else { return }
                self.builds.withLock { $0[meterID] = next }
                if next == nil {
                    self.logger.info(
                        "back-filled meter", metadata: ["meter": "\(meter.slug)", "through": "\(build.targetSeq)"])
                }
            })
    }
}
