import Foundation
import TallyCore
import TallyStore
import Testing

@testable import TallyCluster

/// A worker keeps its place in the cluster across restarts however the assignment reached it: with a meter change
/// (stored with the aggregates) or as a new slot table alone (stored with the events writer only, so a slot move's
/// switch-over never waits for a long aggregate flush); the newest record wins, and an older one is refused.
@Suite struct WorkerMembershipTests {
    static func assignment(epoch: Int64, catalog: Int64, meters: [MeterDefinition]) -> JSONValue {
        let owners = (0..<8).map { $0 % 2 == 0 ? "w1" : "w2" }
        return .object([
            "node": .string("w1"), "table": SlotTable(epoch: epoch, owners: owners).json,
            "catalogVersion": .number(String(catalog)), "meters": .array(meters.map(\.json)),
        ])
    }

    @Test func aNewTableAloneIsKeptAcrossARestartAndOlderOnesAreRefused() async throws {
        let path = NSTemporaryDirectory() + "tally-membership-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let meter = MeterDefinition(
            id: "01J00000000000000000000000", spec: MeterSpec(slug: "calls", aggregation: .count, eventType: "call"),
            createdAt: Timestamp(micros: 0))
        do {
            let store = try ShardStore(path: path + "/shard.sqlite")
            let membership = try await WorkerMembership(node: "w1", store: store)
            try await membership.apply(Self.assignment(epoch: 1, catalog: 1, meters: [meter]))
            try await membership.apply(Self.assignment(epoch: 2, catalog: 1, meters: [meter]))
            #expect(membership.epoch == 2 && membership.catalogVersion == 1)
            let stored = try await store.nodeState(WorkerMembership.stateKey)
            #expect(stored.aggregates?.contains(#""epoch":1"#) == true)
            #expect(stored.events?.contains(#""epoch":2"#) == true)
            await #expect(
                throws: MembershipError.staleAssignment(
                    epoch: 1, catalogVersion: 1, localEpoch: 2, localCatalogVersion: 1)
            ) {
                try await membership.apply(Self.assignment(epoch: 1, catalog: 1, meters: [meter]))
            }
            try await store.flushAggregates()
        }
        let reopened = try ShardStore(path: path + "/shard.sqlite")
        let membership = try await WorkerMembership(node: "w1", store: reopened)
        #expect(membership.epoch == 2 && membership.catalogVersion == 1)
        #expect(reopened.meters.map(\.slug) == ["calls"])
        let foreign = try #require((0..<100).map { "c\($0)" }.first { SlotTable.slot(of: $0, slotCount: 8) % 2 == 1 })
        let own = try #require((0..<100).map { "c\($0)" }.first { SlotTable.slot(of: $0, slotCount: 8) % 2 == 0 })
        #expect(throws: MembershipError.notOwner(slots: [SlotTable.slot(of: foreign, slotCount: 8)], epoch: 2)) {
            try membership.admit(epoch: 2, catalog: 1, subjects: [foreign])
        }
        try membership.admit(epoch: 2, catalog: 1, subjects: [own])
    }
}
