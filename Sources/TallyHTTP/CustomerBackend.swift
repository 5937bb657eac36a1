import TallyCore
import TallyStore

/// What the customer and subject routes run on. A node implements it over its shard store (`LocalBackend`).
public protocol CustomerBackend: Sendable {
    func createCustomer(_ spec: CustomerSpec) async throws -> Customer
    func customers(includeDeleted: Bool) async throws -> [Customer]
    func customer(idOrKey: String) async throws -> Customer?
    func replaceCustomer(idOrKey: String, _ spec: CustomerSpec) async throws -> Customer
    func deleteCustomer(idOrKey: String) async throws
    func upsertSubjects(_ subjects: [SubjectUpsert]) async throws -> [SubjectRecord]
}

/// A node's customers over its shard store. A change of attribution can move balances: the customers it names are
/// marked for the next round of the `NotificationService`.
extension LocalBackend: CustomerBackend {
    public func createCustomer(_ spec: CustomerSpec) async throws -> Customer {
        let customer = try await store.createCustomer(spec)
        store.touchCustomers([customer.ownerKey])
        return customer
    }

    public func customers(includeDeleted: Bool) async throws -> [Customer] {
        try await store.customers(includeDeleted: includeDeleted)
    }

    public func customer(idOrKey: String) async throws -> Customer? { try await store.customer(idOrKey: idOrKey) }

    public func replaceCustomer(idOrKey: String, _ spec: CustomerSpec) async throws -> Customer {
        let customer = try await store.replaceCustomer(idOrKey: idOrKey, spec)
        store.touchCustomers([customer.ownerKey])
        return customer
    }

    public func deleteCustomer(idOrKey: String) async throws { try await store.deleteCustomer(idOrKey: idOrKey) }

    public func upsertSubjects(_ subjects: [SubjectUpsert]) async throws -> [SubjectRecord] {
        try await store.upsertSubjects(subjects)
    }
}
