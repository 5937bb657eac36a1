import Logging
import ServiceLifecycle
import TallyCore
import TallyStore

/// Compares the copies of every slot, `antiEntropySlotsPerRound` slots every `antiEntropyIntervalMs` in slot order,
/// and makes a replica that differs from its owner equal to it again: writes to the round's slots wait (`WriteGate`)
/// until every write under way has ended (at most `maxQuietWait`), each holder computes the digests of its copies
/// (`POST /internal/v1/slots/digest`, at most `digestTimeout`), writes go on, and for a replica whose digest differs
/// from the owner's, the owner first installs whatever the replica holds that it lacks (so no event any copy holds is
/// lost), then the replica is dropped from the slot at the next epoch, its copy deleted, and a repair copies the slot
/// from the owner again (`Coordinator.reconcile`). A round is skipped while a move runs, within `settleTime` of a table
/// change (promotions may still be copying), while a holder of its slots is not up, or when the table changed
/// meanwhile.
public struct AntiEntropy: Service {
    let coordinator: Coordinator
    let logger: Logger
    /// How often a round waiting for the writes under way looks whether they ended.
    static let quietPollInterval = Duration.milliseconds(5)
    /// Longest wait of a round for the writes under way to its slots; the round is skipped after it.
    static let maxQuietWait = Duration.seconds(5)
    /// Longest wait for one worker's digests.
    static let digestTimeout = Duration.seconds(10)
    /// Rounds wait this long after the table changed: a promoted replica may still be copying into its primary store.
    static let settleTime = Duration.seconds(5)

    public init(coordinator: Coordinator, logger: Logger) {
        self.coordinator = coordinator
        self.logger = logger
    }

    public func run() async throws {
        let interval = coordinator.settings.antiEntropyIntervalMs
        guard interval > 0 else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            var next = 0
            var epoch = coordinator.state.snapshot.table.epoch
            var changedAt = ContinuousClock.now
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(interval))
                let current = coordinator.state.snapshot.table.epoch
                if current != epoch { (epoch, changedAt) = (current, .now) }
                if ContinuousClock.now - changedAt >= AntiEntropy.settleTime { next = await round(from: next) }
            }
        }
    }

    /// Compares the next replicated slots from `first` on; the slot the next round starts at.
    func round(from first: Int) async -> Int {
        let snapshot = coordinator.state.snapshot
        let table = snapshot.table
        let slotCount = table.slotCount
        let replicated = (0..<slotCount).map { (first + $0) % slotCount }.filter { !table.replicas[$0].isEmpty }
        let slots = Array(replicated.prefix(coordinator.settings.antiEntropySlotsPerRound))
        let health = coordinator.health
        guard snapshot.move == nil, let last = slots.last,
            slots.allSatisfy({ table.holders(ofSlot: $0).allSatisfy { health[$0]?.state == .up } })
        else { return first }
        let generation = coordinator.writeGate.hold(Set(slots))
        let deadline = ContinuousClock.now + AntiEntropy.maxQuietWait
        while !coordinator.writeGate.isQuiet(since: generation), ContinuousClock.now < deadline {
            try? await Task.sleep(for: AntiEntropy.quietPollInterval)
        }
        let digests = coordinator.writeGate.isQuiet(since: generation) ? await self.digests(of: slots, in: table) : nil
        coordinator.writeGate.release()
        guard let digests else {
            logger.warning("anti-entropy: a round got no digests from every holder; it is tried again")
            return first
        }
        guard coordinator.state.snapshot.table.epoch == table.epoch else { return first }
        var mismatches: [AntiEntropyStatus.Mismatch] = []
        for slot in slots {
            let owner = table.owners[slot]
            guard let expected = digests[SlotCopy(worker: owner, slot: slot)] else { return first }
            for replica in table.replicas[slot] {
                guard let copy = digests[SlotCopy(worker: replica, slot: slot)] else { return first }
                if copy != expected {
                    mismatches.append(
                        AntiEntropyStatus.Mismatch(
                            slot: slot, worker: replica, owner: owner, ownerEvents: expected.events,
                            copyEvents: copy.events, at: .now))
                }
            }
        }
        coordinator.recordAntiEntropy(compared: slots.count, mismatches: mismatches)
        for mismatch in mismatches {
            logger.warning(
                "anti-entropy: a copy differs from its owner's; making it equal",
                metadata: [
                    "slot": "\(mismatch.slot)", "worker": "\(mismatch.worker)", "owner": "\(mismatch.owner)",
                    "ownerEvents": "\(mismatch.ownerEvents)", "copyEvents": "\(mismatch.copyEvents)",
                ])
        }
        if !mismatches.isEmpty { await coordinator.reconcile(mismatches, epoch: table.epoch) }
        return (last + 1) % slotCount
    }

    /// One worker's copy of one slot.
    struct SlotCopy: Hashable {
        var worker: String
        var slot: Int
    }

    /// Every holder's digests of its copies of `slots`, asked concurrently; nil when one did not answer or answered at
    /// another epoch than `table`'s.
    private func digests(of slots: [Int], in table: SlotTable) async -> [SlotCopy: SlotDigest]? {
        var asks: [String: [SlotRole: [Int]]] = [:]
        for slot in slots {
            for holder in table.holders(ofSlot: slot) {
                if let role = table.role(of: holder, slot: slot) {
                    asks[holder, default: [:]][role, default: []].append(slot)
                }
            }
        }
        let urls = coordinator.state.snapshot.workerURLs
        return await withTaskGroup(of: [SlotCopy: SlotDigest]?.self) { group in
            for (worker, roles) in asks {
                for (role, wanted) in roles {
                    group.addTask {
                        guard let url = urls[worker] else { return nil }
                        let body: JSONValue = .object([
                            "slots": .array(wanted.sorted().map { .number(String($0)) }),
                            "slotCount": .number(String(table.slotCount)), "store": .string(role.rawValue),
                        ])
                        guard
                            let reply = try? await coordinator.client.send(
                                .POST, baseURL: url, path: "/internal/v1/slots/digest", body: JSONWriter.string(body),
                                timeout: AntiEntropy.digestTimeout),
                            reply.status == 200, let json = reply.json,
                            json["epoch"] == .number(String(table.epoch)), let items = json["digests"]?.arrayValue
                        else { return nil }
                        var found: [SlotCopy: SlotDigest] = [:]
                        for item in items {
                            guard case .number(let slotText)? = item["slot"], let slot = Int(slotText),
                                case .number(let eventsText)? = item["events"], let events = Int64(eventsText),
                                let checksum = item["checksum"]?.stringValue.flatMap({ UInt64($0, radix: 16) })
                            else { return nil }
                            found[SlotCopy(worker: worker, slot: slot)] = SlotDigest(events: events, checksum: checksum)
                        }
                        return found
                    }
                }
            }
            var all: [SlotCopy: SlotDigest] = [:]
            for await found in group {
                guard let found else { return nil }
                all.merge(found) { first, _ in first }
            }
            return all
        }
    }
}
