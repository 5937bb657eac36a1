/// Computes slot tables: rendezvous (highest-random-weight) hashing of slots over workers, then balancing
/// so that no worker holds more than ⌈slots / workers⌉ slots (at most one above the mean).
public enum SlotPlanner {
    /// One slot changing owner between two tables.
    public struct Move: Sendable, Hashable {
        public var slot: Int
        public var from: String
        public var to: String
    }

    /// The rendezvous weight of `worker` for `slot`: XXH64 of the worker name's UTF-8 bytes, seeded with the slot.
    public static func weight(worker: String, slot: Int) -> UInt64 {
        XXHash64.hash(worker, seed: UInt64(slot))
    }

    /// Whether `a` beats `b` for `slot` (higher weight; equal weights by name, so the order is total).
    static func prefers(_ a: String, over b: String, slot: Int) -> Bool {
        let (wa, wb) = (weight(worker: a, slot: slot), weight(worker: b, slot: slot))
        return wa != wb ? wa > wb : a < b
    }

    /// The table of a new cluster: each slot goes to its highest-weight worker, then workers above
    /// ⌈slots / workers⌉ hand their least-attached slots to the best-weighted worker with room, and workers
    /// below ⌊slots / workers⌋ take their best-weighted slots from workers above it. Every worker ends with
    /// ⌊slots / workers⌋ or ⌈slots / workers⌉ slots.
    public static func initial(
        workers: [String], slotCount: Int = SlotTable.defaultSlotCount, epoch: Int64 = 1
    ) -> SlotTable {
        precondition(!workers.isEmpty && slotCount > 0, "a slot table needs workers and slots")
        let names = Set(workers).sorted()
        var owners = (0..<slotCount).map { slot in
            names.reduce(names[0]) { best, candidate in prefers(candidate, over: best, slot: slot) ? candidate : best }
        }
        let cap = (slotCount + names.count - 1) / names.count
        var counts = owners.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        let byAttachment = (0..<slotCount).sorted { a, b in
            let (wa, wb) = (weight(worker: owners[a], slot: a), weight(worker: owners[b], slot: b))
            return wa != wb ? wa < wb : a < b
        }
        for slot in byAttachment where counts[owners[slot], default: 0] > cap {
            let receivers = names.filter { counts[$0, default: 0] < cap }
            guard
                let receiver = receivers.dropFirst().reduce(
                    receivers.first,
                    { best, candidate in
                        best.map { prefers(candidate, over: $0, slot: slot) ? candidate : $0 }
                    })
            else { break }
            counts[owners[slot], default: 0] -= 1
            counts[receiver, default: 0] += 1
            owners[slot] = receiver
        }
        let floor = slotCount / names.count
        for receiver in names {
            while counts[receiver, default: 0] < floor {
                let donated = (0..<slotCount).filter { counts[owners[$0], default: 0] > floor }
                    .max { weight(worker: receiver, slot: $0) < weight(worker: receiver, slot: $1) }!
                counts[owners[donated], default: 0] -= 1
                counts[receiver, default: 0] += 1
                owners[donated] = receiver
            }
        }
        return SlotTable(epoch: epoch, owners: owners)
    }

    /// The table after `worker` joins: slots move only onto the new worker, ⌊slots / (workers + 1)⌋ of them,
    /// chosen by the new worker's weight, first from workers above the new cap, then from workers above the
    /// new floor. No slot moves between existing workers. The epoch grows by one.
    public static func adding(_ worker: String, to table: SlotTable) -> SlotTable {
        var counts = table.slotCounts
        precondition(counts[worker] == nil, "\(worker) already owns slots")
        let workerCount = counts.count + 1
        let floor = table.slotCount / workerCount
        let cap = (table.slotCount + workerCount - 1) / workerCount
        let byNewWeight = (0..<table.slotCount).sorted { a, b in
            let (wa, wb) = (weight(worker: worker, slot: a), weight(worker: worker, slot: b))
            return wa != wb ? wa > wb : a < b
        }
        var owners = table.owners
        var taken = 0
        func take(_ slot: Int) {
            counts[owners[slot], default: 0] -= 1
            owners[slot] = worker
            taken += 1
        }
        for slot in byNewWeight where owners[slot] != worker && counts[owners[slot], default: 0] > cap { take(slot) }
        for slot in byNewWeight
        where taken < floor && owners[slot] != worker && counts[owners[slot], default: 0] > floor { take(slot) }
        return SlotTable(epoch: table.epoch + 1, owners: owners, replicas: table.replicas)
    }

    /// `table` with replicas added until every slot has `factor` copies, or as many as `candidates` (the workers
    /// that may receive one) allow: a slot's copies are on distinct workers. Existing replicas stay; each missing one
    /// goes to the candidate not holding the slot with the fewest replicas below
    /// ⌈slots × (factor - 1) / candidates⌉, highest rendezvous weight first. The epoch does not change.
    public static func withReplicas(_ table: SlotTable, factor: Int, candidates: some Sequence<String>) -> SlotTable {
        let names = Set(candidates).sorted()
        let wanted = max(0, factor - 1)
        var replicas = table.replicas
        guard !names.isEmpty, wanted > 0 else { return table }
        let cap = (table.slotCount * wanted + names.count - 1) / names.count
        var counts = replicas.joined().reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        for slot in 0..<table.slotCount {
            while replicas[slot].count < wanted {
                let free = names.filter { $0 != table.owners[slot] && !replicas[slot].contains($0) }
                let roomy = free.filter { counts[$0, default: 0] < cap }
                let pool = roomy.isEmpty ? free : roomy
                guard
                    let chosen = pool.min(by: { a, b in
                        let (ca, cb) = (counts[a, default: 0], counts[b, default: 0])
                        return ca != cb ? ca < cb : prefers(a, over: b, slot: slot)
                    })
                else { break }
                replicas[slot].append(chosen)
                counts[chosen, default: 0] += 1
            }
        }
        return SlotTable(epoch: table.epoch, owners: table.owners, replicas: replicas)
    }

    /// The table once `worker` is lost: each slot it owned is owned by its first replica, and it keeps no replica.
    /// A slot with no other copy keeps its owner (its data is on that worker only). The epoch grows by one.
    public static func failingOver(_ worker: String, in table: SlotTable) -> SlotTable {
        var owners = table.owners
        var replicas = table.replicas
        for slot in 0..<table.slotCount {
            let holders = table.holders(ofSlot: slot).filter { $0 != worker }
            guard let first = holders.first else { continue }
            owners[slot] = first
            replicas[slot] = Array(holders.dropFirst())
        }
        return SlotTable(epoch: table.epoch + 1, owners: owners, replicas: replicas)
    }

    /// `table` with replicas added so that the candidates' replica counts end within one of each other: while the
    /// candidate holding the most replicas holds two more than the one holding the fewest, the latter gets a replica of
    /// a slot the former keeps one of (the slot it weighs most among those it does not hold). The replicas it is to
    /// replace stay until `excessReplicas` drops them, so every slot keeps its copies meanwhile. The epoch does not
    /// change.
    public static func balancingReplicas(_ table: SlotTable, candidates: some Sequence<String>) -> SlotTable {
        let names = Set(candidates).sorted()
        var counts = Dictionary(uniqueKeysWithValues: names.map { ($0, 0) })
        for holder in table.replicas.joined() where counts[holder] != nil { counts[holder, default: 0] += 1 }
        var replicas = table.replicas
        var replaced = Set<Int>()
        var weights: [String: [UInt64]] = [:]
        func fewer(_ a: String, _ b: String) -> Bool {
            counts[a, default: 0] != counts[b, default: 0] ? counts[a, default: 0] < counts[b, default: 0] : a < b
        }
        while let most = names.max(by: fewer), let least = names.min(by: fewer),
            counts[most, default: 0] - counts[least, default: 0] > 1
        {
            let eligible = (0..<table.slotCount).filter { slot in
                !replaced.contains(slot) && replicas[slot].contains(most) && table.owners[slot] != least
                    && !replicas[slot].contains(least)
            }
            if weights[least] == nil { weights[least] = (0..<table.slotCount).map { weight(worker: least, slot: $0) } }
            let leastWeights = weights[least] ?? []
            guard let slot = eligible.max(by: { leastWeights[$0] < leastWeights[$1] }) else { break }
            replicas[slot].append(least)
            replaced.insert(slot)
            counts[most, default: 0] -= 1
            counts[least, default: 0] += 1
        }
        return SlotTable(epoch: table.epoch, owners: table.owners, replicas: replicas)
    }

    /// The replicas to drop from slots with more than `factor - 1` of them (a balancing repair added one): in each, the
    /// extra ones held by the workers with the most replicas (the one listed first on a tie, keeping the newest).
    /// Worker → its slots to drop, ascending; empty when no slot has too many.
    public static func excessReplicas(_ table: SlotTable, factor: Int) -> [String: [Int]] {
        var counts = table.replicaCounts
        var dropped: [String: [Int]] = [:]
        let wanted = max(0, factor - 1)
        for slot in 0..<table.slotCount where table.replicas[slot].count > wanted {
            var kept = table.replicas[slot]
            while kept.count > wanted {
                guard
                    let index = kept.indices.max(by: { a, b in counts[kept[a], default: 0] < counts[kept[b], default: 0]
                    })
                else { break }
                counts[kept[index], default: 0] -= 1
                dropped[kept[index], default: []].append(slot)
                kept.remove(at: index)
            }
        }
        return dropped
    }

    /// The table once `worker` has left the cluster: each slot it owned is owned by its first replica (a slot only it
    /// holds goes to the candidate owning the fewest slots, highest rendezvous weight first), it keeps no replica, and
    /// replicas are added as `withReplicas` places them until every slot has `factor` copies among `candidates`
    /// (`worker` excluded). The epoch grows by one; with no other candidate, the slots only `worker` holds stay its.
    public static func draining(
        _ worker: String, from table: SlotTable, factor: Int, candidates: some Sequence<String>
    ) -> SlotTable {
        let names = Set(candidates).subtracting([worker]).sorted()
        var drained = failingOver(worker, in: table)
        var counts = drained.slotCounts
        for slot in 0..<table.slotCount where drained.owners[slot] == worker {
            guard
                let chosen = names.min(by: { a, b in
                    let (ca, cb) = (counts[a, default: 0], counts[b, default: 0])
                    return ca != cb ? ca < cb : prefers(a, over: b, slot: slot)
                })
            else { break }
            drained.owners[slot] = chosen
            counts[chosen, default: 0] += 1
        }
        return withReplicas(drained, factor: factor, candidates: names)
    }

    /// The slots whose owner differs between `old` and `new`.
    public static func moves(from old: SlotTable, to new: SlotTable) -> [Move] {
        zip(old.owners, new.owners).enumerated().compactMap { slot, pair in
            pair.0 == pair.1 ? nil : Move(slot: slot, from: pair.0, to: pair.1)
        }
    }
}
