import Foundation
import TallyCore
import Testing

@testable import TallyStore

/// A slot's customer state read from one store and installed into another: exactly the rows of the customers whose
/// owner key lies in the slots, replacing what the target held of them, and nothing from data naming other slots.
@Suite struct CustomerStateTests {
    static let slotCount = 1024

    func seeded(_ fixture: StoreFixture, keys: [String]) async throws -> ShardStore {
        let store = try fixture.open()
        _ = try await store.createMeter(spec("tokens", .sum))
        let feature = try JSONParser.parse(#"{"key":"tokens","name":"Tokens","meterSlug":"tokens"}"#)
        _ = try await store.createFeature(FeatureSpec.parse(feature).get())
        for key in keys {
            let customer = try JSONParser.parse(
                #"{"key":"\#(key)","name":"\#(key)","usageAttribution":{"subjectKeys":["\#(key)"]}}"#)
            _ = try await store.createCustomer(CustomerSpec.parse(customer).get())
            let entitlement = try JSONParser.parse(
                #"{"type":"metered","featureKey":"tokens","usagePeriod":{"interval":"MONTH","#
                    + #""anchor":"2026-01-01T00:00:00Z"},"issueAfterReset":100}"#)
            _ = try await store.createEntitlement(
                customer: key, EntitlementSpec.parse(entitlement, now: .now).get())
        }
        return store
    }

    @Test func aSlotsStateMovesWholeAndAloneFromOneStoreToAnother() async throws {
        let keys = (0..<40).map { "c\($0)" }
        let slot = SlotTable.slot(of: "c7", slotCount: Self.slotCount)
        let inSlot = keys.filter { SlotTable.slot(of: $0, slotCount: Self.slotCount) == slot }
        let source = try await seeded(try StoreFixture(), keys: keys)
        let data = try await source.customerState([slot], slotCount: Self.slotCount)
        // Each customer of the slot: its row, its attributed subject, its entitlement and its default grant.
        #expect(data.rows["customers"]?.count == inSlot.count)
        #expect(data.rows["customer_subjects"]?.count == inSlot.count)
        #expect(data.rows["entitlements"]?.count == inSlot.count)
        #expect(data.rows["grants"]?.count == inSlot.count)
        #expect(data.rows["customers"]?.compactMap { $0[1].stringValue }.sorted() == inSlot.sorted())

        // The target holds a stale customer of the slot and one of another slot: the install replaces the first only.
        let other = try #require(keys.first { SlotTable.slot(of: $0, slotCount: Self.slotCount) != slot })
        let target = try await seeded(try StoreFixture(), keys: ["c7", other])
        let installed = try await target.installCustomerState(try #require(CustomerStateData(json: data.json)))
        #expect(installed == inSlot.count * 4)
        #expect(try await target.customerState([slot], slotCount: Self.slotCount) == data)
        let kept = try await target.customerState(
            [SlotTable.slot(of: other, slotCount: Self.slotCount)], slotCount: Self.slotCount)
        #expect(kept.rows["customers"]?.count == 1)
        #expect(try await target.ownerKey(ofID: try #require(data.rows["entitlements"]?[0][0].stringValue)) != nil)

        // Data naming a slot its rows do not belong to is refused, and nothing changes.
        var foreign = data
        foreign.slots = [(slot + 1) % Self.slotCount]
        await #expect(throws: SlotDataError.foreignCustomerRow(table: "customers")) {
            try await target.installCustomerState(foreign)
        }
        #expect(try await target.customerState([slot], slotCount: Self.slotCount) == data)
        try await target.deleteCustomerState([slot], slotCount: Self.slotCount)
        #expect(try await target.customerState([slot], slotCount: Self.slotCount).rows.values.allSatisfy(\.isEmpty))
    }
}
