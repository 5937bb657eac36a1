import GRDB
import TallyCore

extension ShardStore {
    /// Creates a customer. Its key must be free among live customers and each subject key unattributed.
    public func createCustomer(_ spec: CustomerSpec, now: Timestamp = .now) async throws -> Customer {
        let customer = Customer(id: ULID.make(time: now), spec: spec, createdAt: now)
        return try await commit { db in
            try ShardStore.checkAttribution(of: customer, replacing: nil, db)
            try ShardStore.save(customer, db)
            return customer
        }
    }

    /// Live customers (deleted ones too when asked), in creation order.
    public func customers(includeDeleted: Bool = false) async throws -> [Customer] {
        try await pool.read { db in
            try ShardStore.decodeAll(
                Customer.self, db,
                "SELECT body FROM customers" + (includeDeleted ? "" : " WHERE deleted_us IS NULL") + " ORDER BY id", [])
        }
    }

    /// The live customer with this id or key.
    public func customer(idOrKey: String) async throws -> Customer? {
        try await pool.read { db in try ShardStore.customer(idOrKey: idOrKey, db) }
    }

    /// Replaces a live customer's fields; its id and creation time stay.
    public func replaceCustomer(idOrKey: String, _ spec: CustomerSpec, now: Timestamp = .now) async throws -> Customer {
        try await commit { db in
            guard let old = try ShardStore.customer(idOrKey: idOrKey, db) else {
                throw CustomerStoreError.customerNotFound(idOrKey)
            }
            var customer = old
            customer.spec = spec
            customer.updatedAt = now
            if customer.ownerKey != old.ownerKey, try ShardStore.holdsEntitlements(old.ownerKey, db) {
                throw CustomerStoreError.customerHasEntitlements(old.ownerKey)
            }
            try ShardStore.checkAttribution(of: customer, replacing: old, db)
            try ShardStore.save(customer, db)
            return customer
        }
    }

    /// Deletes a live customer (kept, marked deleted); refused while it holds entitlements.
    public func deleteCustomer(idOrKey: String, now: Timestamp = .now) async throws {
        try await commit { db in
            guard var customer = try ShardStore.customer(idOrKey: idOrKey, db) else {
                throw CustomerStoreError.customerNotFound(idOrKey)
            }
            if try ShardStore.holdsEntitlements(customer.ownerKey, db) {
                throw CustomerStoreError.customerHasEntitlements(customer.ownerKey)
            }
            customer.deletedAt = now
            customer.updatedAt = now
            try ShardStore.save(customer, db)
        }
    }

    /// Upserts subjects as upstream does: each becomes a known subject, and one that no live customer attributes gets
    /// (unless its key looks like a ULID, which a customer key must not) a customer with its key, named by its display
    /// name, else its key. A subject whose own customer exists has that customer's name and metadata replaced.
    /// Returns each subject's record, in request order.
    public func upsertSubjects(_ subjects: [SubjectUpsert], now: Timestamp = .now) async throws -> [SubjectRecord] {
        try await commit { db in
            var records: [SubjectRecord] = []
            for subject in subjects {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO subjects(key, id, first_seen_us) VALUES (?, ?, ?)",
                    arguments: [subject.key, ULID.make(time: now), now.micros])
                let row = try Row.fetchOne(
                    db, sql: "SELECT id, first_seen_us FROM subjects WHERE key = ?", arguments: [subject.key])
                records.append(
                    SubjectRecord(
                        id: row?[0] ?? "", key: subject.key, firstSeen: Timestamp(micros: row?[1] ?? now.micros)))
                if let attributing = try ShardStore.customer(attributing: subject.key, db) {
                    guard attributing.spec.key == subject.key else { continue }
                    var customer = attributing
                    customer.spec.name = subject.displayName ?? customer.spec.name
                    customer.spec.metadata = subject.metadata ?? customer.spec.metadata
                    customer.updatedAt = now
                    try ShardStore.save(customer, db)
                } else if !ULID.isValid(subject.key.uppercased()),
                    try ShardStore.customer(idOrKey: subject.key, db) == nil
                {
                    let spec = CustomerSpec(
                        name: subject.displayName ?? subject.key, key: subject.key, metadata: subject.metadata,
                        subjectKeys: [subject.key])
                    try ShardStore.save(Customer(id: ULID.make(time: now), spec: spec, createdAt: now), db)
                }
            }
            return records
        }
    }

    /// Who `/api/v2/customers/{customerIdOrKey}` acts for: the live customer with this id or key, else the one
    /// attributing it as a subject key, else the key as its own customer (`owner(key:)`).
    public func owner(customerIDOrKey: String) async throws -> UsageOwner {
        try await pool.read { db in
            if let customer = try ShardStore.customer(idOrKey: customerIDOrKey, db)
                ?? ShardStore.customer(attributing: customerIDOrKey, db)
            {
                return UsageOwner(customer: customer)
            }
            return try ShardStore.owner(key: customerIDOrKey, db)
        }
    }

    /// Who `/api/v1/subjects/{subjectKey}` acts for: the live customer attributing the subject key, else the key as
    /// its own customer (`owner(key:)`).
    public func owner(subjectKey: String) async throws -> UsageOwner {
        try await pool.read { db in
            try ShardStore.customer(attributing: subjectKey, db).map(UsageOwner.init(customer:))
                ?? ShardStore.owner(key: subjectKey, db)
        }
    }

    /// The owner whose entitlements are stored under `key`: the live customer with that owner key (its subject keys
    /// are what counts, even when the key is not one of them), else the key as its own customer.
    static func owner(key: String, _ db: Database) throws -> UsageOwner {
        try decodeAll(Customer.self, db, "SELECT body FROM customers WHERE owner_key = ? AND deleted_us IS NULL", [key])
            .first.map(UsageOwner.init(customer:)) ?? UsageOwner(subject: key)
    }

    /// The subject keys whose usage counts for the entitlement owner `ownerKey`.
    static func usageSubjects(ownerKey: String, _ db: Database) throws -> [String] {
        try owner(key: ownerKey, db).subjectKeys
    }

    static func customer(idOrKey: String, _ db: Database) throws -> Customer? {
        try decodeAll(
            Customer.self, db,
            """
            SELECT body FROM customers WHERE (id = ? OR key = ?) AND deleted_us IS NULL
            ORDER BY (id = ?) DESC LIMIT 1
            """,
            [idOrKey, idOrKey, idOrKey]
        ).first
    }

    static func customer(attributing subject: String, _ db: Database) throws -> Customer? {
        try decodeAll(
            Customer.self, db,
            "SELECT c.body FROM customer_subjects s JOIN customers c ON c.id = s.customer_id WHERE s.subject = ?",
            [subject]
        ).first
    }

    /// Whether `ownerKey` holds an entitlement that is not deleted.
    static func holdsEntitlements(_ ownerKey: String, _ db: Database) throws -> Bool {
        try decodeAll(Entitlement.self, db, "SELECT body FROM entitlements WHERE customer = ?", [ownerKey])
            .contains { $0.deletedAt == nil }
    }

    /// Refuses a customer whose key another live customer uses, or that attributes a subject key attributed to
    /// another customer or holding entitlements as its own customer.
    private static func checkAttribution(of customer: Customer, replacing old: Customer?, _ db: Database) throws {
        if let key = customer.spec.key, let holder = try ShardStore.customer(idOrKey: key, db), holder.id != customer.id
        {
            throw CustomerStoreError.customerKeyTaken(key)
        }
        for subject in customer.spec.subjectKeys {
            if let holder = try ShardStore.customer(attributing: subject, db), holder.id != customer.id {
                throw CustomerStoreError.subjectAttributed(subject: subject, customerID: holder.id)
            }
            let wasOwn = old?.spec.subjectKeys.contains(subject) ?? false
            if subject != customer.ownerKey, !wasOwn, try usageSubjects(ownerKey: subject, db) == [subject],
                try holdsEntitlements(subject, db)
            {
                throw CustomerStoreError.subjectHasEntitlements(subject)
            }
        }
    }

    /// Writes a customer and its attribution rows (none once it is deleted).
    private static func save(_ customer: Customer, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO customers(id, key, owner_key, deleted_us, body) VALUES (?, ?, ?, ?, ?)
                """,
            arguments: [
                customer.id, customer.spec.key, customer.ownerKey, customer.deletedAt?.micros,
                try EntitlementRecords.encode(customer),
            ])
        try db.execute(sql: "DELETE FROM customer_subjects WHERE customer_id = ?", arguments: [customer.id])
        guard customer.deletedAt == nil else { return }
        for subject in customer.spec.subjectKeys {
            try db.execute(
                sql: "INSERT INTO customer_subjects(subject, customer_id) VALUES (?, ?)",
                arguments: [subject, customer.id])
        }
    }
}

extension ShardStore {
    /// The entitlement owners that usage of `keys` (subject keys, or owner keys a change named) can move: each key
    /// itself and the owner key of the live customer attributing it.
    public func ownerKeys(touching keys: Set<String>) async throws -> Set<String> {
        try await pool.read { db in
            var owners = keys
            for key in keys {
                if let customer = try ShardStore.customer(attributing: key, db) { owners.insert(customer.ownerKey) }
            }
            return owners
        }
    }
}
