import Foundation
import GRDB
import Synchronization
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore

/// The coordinator's durable state in its own SQLite file: the slot count, every slot table by epoch,
/// the workers and the versioned meter catalog. Changes are written first, then published in memory.
public final class CoordinatorState: Sendable {
    let queue: DatabaseQueue
    private let published: Mutex<ClusterSnapshot>

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// Opens the state at `path`. A new cluster gets the initial slot table over the configured workers;
    /// an existing one keeps its table, takes new URLs for its workers, and refuses a changed slot count or a
    /// changed list of the workers it was created with (workers added online live in the state only). Meters
    /// declared in the configuration are created when no live meter has their slug.
    public init(path: String, settings: ClusterSettings, meters specs: [MeterSpec] = []) throws {
        queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE cluster(id INTEGER PRIMARY KEY CHECK (id = 1), slot_count INTEGER NOT NULL,
                        catalog_version INTEGER NOT NULL);
                    CREATE TABLE slot_tables(epoch INTEGER PRIMARY KEY, owners TEXT NOT NULL,
                        created_us INTEGER NOT NULL);
                    CREATE TABLE workers(name TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL);
                    CREATE TABLE meters(id TEXT PRIMARY KEY NOT NULL, slug TEXT NOT NULL, definition TEXT NOT NULL,
                                        version INTEGER NOT NULL, deleted INTEGER NOT NULL);
                    CREATE UNIQUE INDEX meters_live_slug ON meters(slug) WHERE deleted = 0;
                    """)
        }
        migrator.registerMigration("v2-moves") { db in
            try db.execute(
                sql: """
                    ALTER TABLE workers ADD COLUMN added INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE moves(id TEXT PRIMARY KEY NOT NULL, worker TEXT NOT NULL, url TEXT NOT NULL,
                        target TEXT NOT NULL, phase TEXT NOT NULL, started_us INTEGER NOT NULL,
                        finished_us INTEGER);
                    CREATE TABLE move_sources(move_id TEXT NOT NULL, source TEXT NOT NULL, slots TEXT NOT NULL,
                        copied_through INTEGER NOT NULL DEFAULT 0, source_position INTEGER NOT NULL DEFAULT 0,
                        events INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
                        PRIMARY KEY(move_id, source));
                    """)
        }
        migrator.registerMigration("v3-replication") { db in
            try db.execute(
                sql: """
                    ALTER TABLE moves ADD COLUMN kind TEXT NOT NULL DEFAULT 'add-worker';
                    ALTER TABLE workers ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE workers ADD COLUMN assigned INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        migrator.registerMigration("v4-draining") { db in
            try db.execute(
                sql: """
                    ALTER TABLE workers ADD COLUMN drain_id TEXT;
                    ALTER TABLE workers ADD COLUMN drain_started_us INTEGER;
                    ALTER TABLE workers ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        migrator.registerMigration("v5-features") { db in
            try db.execute(
                sql: """
                    CREATE TABLE features(id TEXT PRIMARY KEY NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
                        archived INTEGER NOT NULL);
                    CREATE UNIQUE INDEX features_live_key ON features(key) WHERE archived = 0;
                    """)
        }
        try migrator.migrate(queue)
        let snapshot = try queue.write { db -> ClusterSnapshot in
            try CoordinatorState.reconcile(db, settings: settings)
            var snapshot = try CoordinatorState.load(db)
            for spec in specs where snapshot.liveMeter(spec.slug) == nil {
                snapshot.catalogVersion += 1
                let meter = MeterDefinition(id: ULID.make(time: .now), spec: spec, createdAt: .now)
                try CoordinatorState.save(meter, version: snapshot.catalogVersion, db: db)
                try CoordinatorState.saveCatalogVersion(snapshot.catalogVersion, db: db)
                snapshot.meters.append(meter)
            }
            return snapshot
        }
        published = Mutex(snapshot)
    }

    /// The current snapshot.
    public var snapshot: ClusterSnapshot { published.withLock { $0 } }

    /// Publishes `snapshot` once the transaction of `db` that stores it commits.
    func publish(_ snapshot: ClusterSnapshot, onCommitOf db: Database) {
        db.afterNextTransaction(onCommit: { _ in self.published.withLock { $0 = snapshot } })
    }

    private static func reconcile(_ db: Database, settings: ClusterSettings) throws {
        let names = settings.workers.map(\.name)
        if let row = try Row.fetchOne(db, sql: "SELECT slot_count FROM cluster") {
            let slotCount: Int = row[0]
            guard slotCount == settings.slots else {
                throw Refusal(
                    description:
                        "the cluster was created with \(slotCount) slots; cluster.slots says \(settings.slots). "
                        + "The slot count is fixed for a cluster's life."
                )
            }
            let seeded = Set(try String.fetchAll(db, sql: "SELECT name FROM workers WHERE added = 0"))
            guard seeded == Set(names) else {
                throw Refusal(
                    description:
                        "cluster.workers lists \(names.sorted().joined(separator: ", ")) but the cluster was created "
                        + "with \(seeded.sorted().joined(separator: ", ")); adding or removing a worker moves data "
                        + "and is done with `tally cluster add-worker`, not by editing the list"
                )
            }
        } else {
            try db.execute(
                sql: "INSERT INTO cluster(id, slot_count, catalog_version) VALUES (1, ?, 0)",
                arguments: [settings.slots])
            let table = SlotPlanner.withReplicas(
                SlotPlanner.initial(workers: names, slotCount: settings.slots), factor: settings.replicationFactor,
                candidates: names)
            try db.execute(
                sql: "INSERT INTO slot_tables(epoch, owners, created_us) VALUES (?, ?, ?)",
                arguments: [table.epoch, JSONWriter.string(table.json), Timestamp.now.micros])
        }
        for worker in settings.workers {
            try db.execute(
                sql: "INSERT INTO workers(name, url) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET url = excluded.url",
                arguments: [worker.name, worker.url])
        }
    }

    private static func latestTable(_ db: Database) throws -> SlotTable {
        guard let text = try String.fetchOne(db, sql: "SELECT owners FROM slot_tables ORDER BY epoch DESC LIMIT 1"),
            let table = (try? JSONParser.parse(text)).flatMap(SlotTable.init(json:))
        else {
            throw Refusal(description: "the coordinator state holds no readable slot table")
        }
        return table
    }

    private static func load(_ db: Database) throws -> ClusterSnapshot {
        let version = try Int64.fetchOne(db, sql: "SELECT catalog_version FROM cluster") ?? 0
        var urls: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, url FROM workers WHERE removed = 0") {
            urls[row[0]] = row[1]
        }
        let drain = try Row.fetchOne(
            db, sql: "SELECT drain_id, name, drain_started_us FROM workers WHERE drain_id IS NOT NULL AND removed = 0"
        ).map { WorkerDrain(id: $0[0], worker: $0[1], startedAt: Timestamp(micros: $0[2])) }
        let meters = try String.fetchAll(db, sql: "SELECT definition FROM meters ORDER BY id").compactMap { text in
            (try? JSONParser.parse(text)).flatMap(MeterDefinition.init(json:))
        }
        let features = try String.fetchAll(db, sql: "SELECT body FROM features ORDER BY id").compactMap { text in
            (try? JSONParser.parse(text)).flatMap(Feature.init(json:))
        }
        return ClusterSnapshot(
            table: try latestTable(db), workerURLs: urls, catalogVersion: version, meters: meters, features: features,
            move: try unfinishedMove(db),
            lostWorkers: Set(try String.fetchAll(db, sql: "SELECT name FROM workers WHERE lost = 1 AND removed = 0")),
            assignedWorkers: Set(
                try String.fetchAll(db, sql: "SELECT name FROM workers WHERE assigned = 1 AND removed = 0")),
            drain: drain)
    }

    private static func unfinishedMove(_ db: Database) throws -> SlotMove? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT id, worker, url, target, phase, started_us, kind FROM moves
                    WHERE phase NOT IN ('done', 'cancelled')
                    """)
        else { return nil }
        guard let target = (try? JSONParser.parse(row[3] as String)).flatMap(SlotTable.init(json:)),
            let phase = SlotMove.Phase(rawValue: row[4]), let kind = SlotMovePlan.Kind(rawValue: row[6])
        else { throw Refusal(description: "the coordinator state holds an unreadable move") }
        let id: String = row[0]
        var slots: [String: [Int]] = [:]
        var progress: [String: SlotMove.Progress] = [:]
        for source in try Row.fetchAll(
            db,
            sql: """
                SELECT source, slots, copied_through, source_position, events, bytes FROM move_sources
                WHERE move_id = ?
                """,
            arguments: [id])
        {
            let name: String = source[0]
            slots[name] = (source[1] as String).split(separator: ",").compactMap { Int($0) }
            var entry = SlotMove.Progress()
            entry.copiedThrough = source[2]
            entry.sourcePosition = source[3]
            entry.events = source[4]
            entry.bytes = source[5]
            progress[name] = entry
        }
        return SlotMove(
            id: id, url: row[2], plan: SlotMovePlan(kind: kind, worker: row[1], target: target, slotsBySource: slots),
            phase: phase, progress: progress, startedAt: Timestamp(micros: row[5]))
    }
}

extension CoordinatorState {
    /// Why a worker cannot be added now.
    public enum AdditionRefusal: Error, Sendable, Hashable {
        case moveInProgress(id: String)
        case workerExists(String)
        /// Another worker of the cluster is reached at this URL.
        case urlTaken(worker: String)
        case invalidName(String)
        case invalidURL(String)
        /// The process at the URL cannot join: no answer, another name, or it holds data or an assignment already.
        case workerUnusable(String)
    }

    /// The base URL (no trailing slash) of a worker to add, once its name and URL are valid.
    public static func checkedAddition(worker: String, url: String) throws(AdditionRefusal) -> String {
        guard worker.range(of: ClusterSettings.workerNamePattern, options: .regularExpression) != nil,
            worker != "coordinator"
        else { throw .invalidName(worker) }
        guard url.hasPrefix("https://"), url.utf8.count <= 2048 else { throw .invalidURL(url) }
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// Throws when the cluster cannot take `worker` at `base` now: another move runs, or the name or URL is taken.
    /// `planAddition` checks the same inside its transaction.
    public func checkAddition(worker: String, base: String) throws(AdditionRefusal) {
        try CoordinatorState.checkAddition(worker: worker, base: base, snapshot: snapshot)
    }

    private static func checkAddition(
        worker: String, base: String, snapshot: ClusterSnapshot
    ) throws(AdditionRefusal) {
        if let move = snapshot.move { throw .moveInProgress(id: move.id) }
        if let drain = snapshot.drain { throw .moveInProgress(id: drain.id) }
        guard snapshot.workerURLs[worker] == nil else { throw .workerExists(worker) }
        if let holder = snapshot.workerURLs.first(where: { $0.value == base })?.key {
            throw .urlTaken(worker: holder)
        }
    }

    /// Writes the plan for `worker` (reached at `url`) joining: the worker, the move and its sources, in one
    /// transaction, then publishes it. The new worker owns nothing until the move switches over.
    public func planAddition(worker: String, url: String) async throws -> SlotMove {
        let base = try CoordinatorState.checkedAddition(worker: worker, url: url)
        return try await queue.write { db in
            var snapshot = self.snapshot
            try CoordinatorState.checkAddition(worker: worker, base: base, snapshot: snapshot)
            let plan = SlotMovePlan.adding(worker, to: snapshot.table)
            let move = SlotMove(
                id: ULID.make(time: .now), url: base, plan: plan, phase: .copying,
                progress: plan.slotsBySource.mapValues { _ in SlotMove.Progress() }, startedAt: .now)
            try db.execute(
                sql: """
                    INSERT INTO workers(name, url, added) VALUES (?, ?, 1) ON CONFLICT(name) DO UPDATE SET
                        url = excluded.url, removed = 0, lost = 0, assigned = 0, drain_id = NULL
                    """,
                arguments: [worker, base])
            try CoordinatorState.insert(move, db: db)
            snapshot.workerURLs[worker] = base
            snapshot.lostWorkers.remove(worker)
            snapshot.assignedWorkers.remove(worker)
            snapshot.move = move
            self.publish(snapshot, onCommitOf: db)
            return move
        }
    }

    private static func insert(_ move: SlotMove, db: Database) throws {
        try db.execute(
            sql: "INSERT INTO moves(id, worker, url, target, phase, started_us, kind) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                move.id, move.plan.worker, move.url, JSONWriter.string(move.plan.target.json), move.phase.rawValue,
                move.startedAt.micros, move.plan.kind.rawValue,
            ])
        for (source, slots) in move.plan.slotsBySource {
            try db.execute(
                sql: "INSERT INTO move_sources(move_id, source, slots) VALUES (?, ?, ?)",
                arguments: [move.id, source, slots.map(String.init).joined(separator: ",")])
        }
    }

    /// Writes and publishes the next repair towards `factor` copies of every slot (`SlotMovePlan.repairing`), its
    /// replicas going only to `candidates`; nil when a move is unfinished or no slot needs a copy a candidate could
    /// hold.
    public func planRepair(factor: Int, candidates: Set<String>) async throws -> SlotMove? {
        try await plan { snapshot in
            SlotMovePlan.repairing(
                snapshot.table, factor: factor, candidates: candidates.subtracting(snapshot.lostWorkers))
        }
    }

    /// Writes and publishes the next repair that evens out the replicas among `candidates`
    /// (`SlotMovePlan.balancing`); nil when a move is unfinished or the replicas are balanced.
    public func planBalance(candidates: Set<String>) async throws -> SlotMove? {
        try await plan { snapshot in
            SlotMovePlan.balancing(snapshot.table, candidates: candidates.subtracting(snapshot.lostWorkers))
        }
    }

    /// Writes and publishes the move `make` plans on the current snapshot; nil when a move is unfinished or it plans
    /// none.
    func plan(_ make: @escaping @Sendable (ClusterSnapshot) -> SlotMovePlan?) async throws -> SlotMove? {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard snapshot.move == nil, let plan = make(snapshot), let url = snapshot.workerURLs[plan.worker] else {
                return nil
            }
            let move = SlotMove(
                id: ULID.make(time: .now), url: url, plan: plan, phase: .copying,
                progress: plan.slotsBySource.mapValues { _ in SlotMove.Progress() }, startedAt: .now)
            try CoordinatorState.insert(move, db: db)
            snapshot.move = move
            self.publish(snapshot, onCommitOf: db)
            return move
        }
    }

    /// Fails `worker` over (`SlotPlanner.failingOver`): its slots are owned by their first replicas at the next
    /// epoch, it keeps nothing, and it is marked lost (emptied before it holds anything again). An unfinished move
    /// that copies or switches over is cancelled first, its table restored, as `cancelAddition` does (not a drain that
    /// switches over: its target is already the table, and restoring the leaving worker's replicas would give them a
    /// gap; a drain still copying is cancelled and planned again on the new table). Returns the new
    /// table, or nil when `worker` holds nothing another worker could take over (no replication, or already failed
    /// over).
    public func failOver(_ worker: String) async throws -> SlotTable? {
        try await queue.write { db in
            var snapshot = self.snapshot
            func changes(_ table: SlotTable) -> Bool {
                let after = SlotPlanner.failingOver(worker, in: table)
                return after.owners != table.owners || after.replicas != table.replicas
            }
            guard changes(snapshot.table) else { return nil }
            if let move = snapshot.move,
                move.phase == .copying || (move.phase == .switching && move.plan.kind != .drain)
            {
                snapshot = try CoordinatorState.cancel(move, snapshot: snapshot, db: db)
            }
            var table = SlotPlanner.failingOver(worker, in: snapshot.table)
            table.epoch = snapshot.table.epoch + 1
            try db.execute(
                sql: "INSERT INTO slot_tables(epoch, owners, created_us) VALUES (?, ?, ?)",
                arguments: [table.epoch, JSONWriter.string(table.json), Timestamp.now.micros])
            try db.execute(sql: "UPDATE workers SET lost = 1 WHERE name = ?", arguments: [worker])
            snapshot.table = table
            snapshot.lostWorkers.insert(worker)
            self.publish(snapshot, onCommitOf: db)
            return table
        }
    }

    /// Drops each worker of `replicas` as a replica of its slots in one table of the next epoch, written and published,
    /// when the table is still at `epoch` and no move is unfinished (anti-entropy found those copies different); the
    /// new table, or nil.
    public func dropReplicas(_ replicas: [String: [Int]], epoch: Int64) async throws -> SlotTable? {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard snapshot.move == nil, snapshot.table.epoch == epoch else { return nil }
            var table = snapshot.table
            table.epoch += 1
            for (worker, slots) in replicas {
                for slot in slots { table.replicas[slot].removeAll { $0 == worker } }
            }
            try db.execute(
                sql: "INSERT INTO slot_tables(epoch, owners, created_us) VALUES (?, ?, ?)",
                arguments: [table.epoch, JSONWriter.string(table.json), Timestamp.now.micros])
            snapshot.table = table
            self.publish(snapshot, onCommitOf: db)
            return table
        }
    }

    /// Cancels the repair `moveID` if it is still the current move and copying or switching over (its receiving
    /// worker is down). What it copied stays in that worker's replica store (a later repair of the same slots onto it
    /// installs the events again, de-duplicated within the de-dup window).
    public func cancelRepair(_ moveID: String) async throws {
        try await queue.write { db in
            guard let move = self.snapshot.move, move.id == moveID, move.plan.kind == .repair,
                move.phase == .copying || move.phase == .switching
            else { return }
            self.publish(try CoordinatorState.cancel(move, snapshot: self.snapshot, db: db), onCommitOf: db)
        }
    }

    /// Records that `worker` took an assignment: from now on, a worker reporting no slot table lost its data.
    public func markAssigned(_ worker: String) async throws {
        try await update(worker, set: "assigned = 1") { $0.assignedWorkers.insert(worker) }
    }

    /// Records that the lost `worker` deleted every slot it held: it may receive slots again.
    public func markEmptied(_ worker: String) async throws {
        try await update(worker, set: "lost = 0") { $0.lostWorkers.remove(worker) }
    }

    /// Sets a column of `worker`'s row (`assignment`, e.g. `lost = 0`) and publishes `change` to the snapshot with it.
    private func update(
        _ worker: String, set assignment: String, change: @escaping @Sendable (inout ClusterSnapshot) -> Void
    ) async throws {
        try await queue.write { db in
            var snapshot = self.snapshot
            try db.execute(sql: "UPDATE workers SET \(assignment) WHERE name = ?", arguments: [worker])
            change(&snapshot)
            self.publish(snapshot, onCommitOf: db)
        }
    }

    /// Records a pull of `source`'s slots for the current move.
    public func recordCopy(source: String, progress: SlotMove.Progress) async throws {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard var move = snapshot.move else { return }
            try db.execute(
                sql: """
                    UPDATE move_sources SET copied_through = ?, source_position = ?, events = ?, bytes = ?
                    WHERE move_id = ? AND source = ?
                    """,
                arguments: [
                    progress.copiedThrough, progress.sourcePosition, progress.events, progress.bytes, move.id, source,
                ])
            move.progress[source] = progress
            snapshot.move = move
            self.publish(snapshot, onCommitOf: db)
        }
    }

    /// The epoch flip: the move's target table becomes the cluster's, and the move enters `switching`.
    public func switchOver() async throws {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard var move = snapshot.move, move.phase == .copying else { return }
            try db.execute(
                sql: "INSERT INTO slot_tables(epoch, owners, created_us) VALUES (?, ?, ?)",
                arguments: [move.plan.target.epoch, JSONWriter.string(move.plan.target.json), Timestamp.now.micros])
            try db.execute(sql: "UPDATE moves SET phase = 'switching' WHERE id = ?", arguments: [move.id])
            move.phase = .switching
            snapshot.move = move
            snapshot.table = move.plan.target
            self.publish(snapshot, onCommitOf: db)
        }
    }

    /// The new worker holds every event of its slots: the move enters `cleaning`, where the sources delete what they
    /// gave up and the move can no longer be cancelled.
    public func startCleaning() async throws {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard var move = snapshot.move, move.phase == .switching else { return }
            try db.execute(sql: "UPDATE moves SET phase = 'cleaning' WHERE id = ?", arguments: [move.id])
            move.phase = .cleaning
            snapshot.move = move
            self.publish(snapshot, onCommitOf: db)
        }
    }

    /// Why a worker cannot be removed now.
    public enum RemovalRefusal: Error, Sendable, Hashable {
        case unknownWorker(String)
        /// The worker's addition is cleaning up: the sources are deleting what they gave up, so it cannot be undone.
        case tooLate(moveID: String)
        /// Another worker is being drained; one drain runs at a time.
        case drainInProgress(worker: String, drainID: String)
        /// The worker is the cluster's only one: nobody could keep its slots.
        case lastWorker(String)
    }

    /// Undoes the addition of `worker` while its move copies or switches over, in one transaction: the move becomes
    /// `cancelled` and the worker leaves the cluster; when the switch-over had begun, a table of the next epoch gives
    /// the sources their slots back. They still hold every event of them: sources delete nothing before `cleaning`, and
    /// writes to the moving slots were held, never sent to the new worker. Returns the cancelled move, or nil when
    /// `worker` is not being added.
    public func cancelAddition(of worker: String) async throws -> SlotMove? {
        try await queue.write { db in
            guard self.snapshot.workerURLs[worker] != nil else { throw RemovalRefusal.unknownWorker(worker) }
            guard let move = self.snapshot.move, move.plan.kind == .addWorker, move.plan.worker == worker else {
                return nil
            }
            guard move.phase == .copying || move.phase == .switching else {
                throw RemovalRefusal.tooLate(moveID: move.id)
            }
            self.publish(try CoordinatorState.cancel(move, snapshot: self.snapshot, db: db), onCommitOf: db)
            var cancelled = move
            cancelled.phase = .cancelled
            return cancelled
        }
    }

    /// Cancels `move` (copying or switching) in `db`: when the switch-over had begun, a table of the next epoch gives
    /// the sources their slots back (and takes the repair's replicas away); a joining worker leaves the cluster. The
    /// snapshot to publish.
    private static func cancel(_ move: SlotMove, snapshot: ClusterSnapshot, db: Database) throws -> ClusterSnapshot {
        var snapshot = snapshot
        if move.phase == .switching {
            guard
                let text = try String.fetchOne(
                    db, sql: "SELECT owners FROM slot_tables WHERE epoch = ?", arguments: [move.plan.target.epoch - 1]),
                var restored = (try? JSONParser.parse(text)).flatMap(SlotTable.init(json:))
            else { throw Refusal(description: "the slot table before move \(move.id) is missing") }
            restored.epoch = move.plan.target.epoch + 1
            try db.execute(
                sql: "INSERT INTO slot_tables(epoch, owners, created_us) VALUES (?, ?, ?)",
                arguments: [restored.epoch, JSONWriter.string(restored.json), Timestamp.now.micros])
            snapshot.table = restored
        }
        try db.execute(
            sql: "UPDATE moves SET phase = 'cancelled', finished_us = ? WHERE id = ?",
            arguments: [Timestamp.now.micros, move.id])
        if move.plan.kind == .addWorker {
            try db.execute(
                sql: "UPDATE workers SET removed = 1, lost = 0, assigned = 0 WHERE name = ?",
                arguments: [move.plan.worker])
            snapshot.workerURLs[move.plan.worker] = nil
            snapshot.lostWorkers.remove(move.plan.worker)
            snapshot.assignedWorkers.remove(move.plan.worker)
        }
        snapshot.move = nil
        return snapshot
    }

    /// Marks the current move done.
    public func finishMove() async throws {
        try await queue.write { db in
            var snapshot = self.snapshot
            guard let move = snapshot.move else { return }
            try db.execute(
                sql: "UPDATE moves SET phase = 'done', finished_us = ? WHERE id = ?",
                arguments: [Timestamp.now.micros, move.id])
            snapshot.move = nil
            self.publish(snapshot, onCommitOf: db)
        }
    }
}

extension CoordinatorState {
    /// The workers a coordinator state at `path` holds: those it was created with (drained ones included: the
    /// configuration still lists them), those added online and still in it, and those drained, each in name order;
    /// nil when there is no state there yet. Reads the file without changing it.
    public static func storedWorkers(path: String) throws -> (seeded: [String], added: [String], removed: [String])? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        return try queue.read { db in
            guard try db.tableExists("workers") else { return nil }
            let columns = Set(try db.columns(in: "workers").map(\.name))
            let added = columns.contains("added") ? "added" : "0"
            let removed = columns.contains("removed") ? "removed" : "0"
            let rows = try Row.fetchAll(db, sql: "SELECT name, \(added), \(removed) FROM workers ORDER BY name")
            return (
                rows.filter { $0[1] as Int == 0 }.map { $0[0] },
                rows.filter { $0[1] as Int != 0 && $0[2] as Int == 0 }.map { $0[0] },
                rows.filter { $0[2] as Int != 0 }.map { $0[0] }
            )
        }
    }
}
