import GRDB
import TallyCore

/// Every per-customer row some slots hold in one shard: customers and their attributed subjects, entitlements,
/// grants and manual resets, each table's rows as JSON arrays of its columns. A customer's rows belong to the slot
/// of its owner key (`SlotTable.slot(of:slotCount:)`), so they move and replicate with its usage.
public struct CustomerStateData: Sendable, Hashable {
    public var slots: [Int]
    public var slotCount: Int
    /// Table name → rows, each row its columns in `CustomerStateData.columns` order.
    public var rows: [String: [[JSONValue]]]

    /// The per-customer tables, their columns, and how a row names its owner key.
    static let tables: [(name: String, columns: [String])] = [
        ("customers", ["id", "key", "owner_key", "deleted_us", "body"]),
        ("customer_subjects", ["subject", "customer_id"]),
        ("entitlements", ["id", "customer", "feature_key", "body"]),
        ("grants", ["id", "entitlement_id", "customer", "body"]),
        ("entitlement_resets", ["entitlement_id", "at_us", "body"]),
    ]

    /// Rows of one install at most (a slot's customers, entitlements, grants and resets together).
    public static let maxRows = 1_000_000

    public var json: JSONValue {
        .object([
            "slots": .array(slots.map { .number(String($0)) }), "slotCount": .number(String(slotCount)),
            "rows": .object(JSONObject(rows) { .array($0.map(JSONValue.array)) }),
        ])
    }

    public init(slots: [Int], slotCount: Int, rows: [String: [[JSONValue]]]) {
        self.slots = slots
        self.slotCount = slotCount
        self.rows = rows
    }

    /// Reads the `json` form; nil when it is not one (unknown tables, rows of the wrong width, too many rows).
    public init?(json: JSONValue) {
        func integer(_ value: JSONValue?) -> Int? {
            if case .number(let text)? = value { return Int(text) }
            return nil
        }
        guard let items = json["slots"]?.arrayValue, let slotCount = integer(json["slotCount"]),
            let tables = json["rows"]?.objectValue
        else { return nil }
        let slots = items.compactMap(integer)
        guard slots.count == items.count else { return nil }
        var rows: [String: [[JSONValue]]] = [:]
        var total = 0
        for (name, value) in tables {
            guard let width = Self.tables.first(where: { $0.name == name })?.columns.count,
                let items = value.arrayValue
            else { return nil }
            var parsed: [[JSONValue]] = []
            for item in items {
                guard let row = item.arrayValue, row.count == width else { return nil }
                parsed.append(row)
            }
            total += parsed.count
            guard total <= Self.maxRows else { return nil }
            rows[name] = parsed
        }
        self.init(slots: slots, slotCount: slotCount, rows: rows)
    }
}

extension ShardStore {
    /// The per-customer rows of `slots` (customers, attributed subjects, entitlements, grants, resets).
    public func customerState(_ slots: Set<Int>, slotCount: Int) async throws -> CustomerStateData {
        try ShardStore.check(slots, slotCount: slotCount)
        let rows = try await pool.read { db in try ShardStore.customerRows(of: slots, slotCount: slotCount, db: db) }
        return CustomerStateData(slots: slots.sorted(), slotCount: slotCount, rows: rows)
    }

    /// Replaces the per-customer rows of `data.slots` with `data`'s, in one transaction; refuses data holding a row
    /// of another slot. Returns the number of rows installed.
    @discardableResult
    public func installCustomerState(_ data: CustomerStateData) async throws -> Int {
        let slots = Set(data.slots)
        try ShardStore.check(slots, slotCount: data.slotCount)
        let incoming = try ShardStore.ownedRows(data.rows, slots: slots, slotCount: data.slotCount)
        return try await commit { db in
            try ShardStore.deleteCustomerRows(of: slots, slotCount: data.slotCount, db: db)
            var installed = 0
            for (name, columns) in CustomerStateData.tables {
                let sql =
                    "INSERT INTO \(name)(\(columns.joined(separator: ", "))) VALUES ("
                    + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
                for row in incoming[name] ?? [] {
                    try db.execute(
                        sql: sql,
                        arguments: StatementArguments(try row.map { try ShardStore.databaseValue($0, table: name) }))
                    installed += 1
                }
            }
            return installed
        }
    }

    /// Deletes the per-customer rows of `slots` (a slot given up, or before an install).
    public func deleteCustomerState(_ slots: Set<Int>, slotCount: Int) async throws {
        try ShardStore.check(slots, slotCount: slotCount)
        try await commit { db in try ShardStore.deleteCustomerRows(of: slots, slotCount: slotCount, db: db) }
    }

    /// The owner key of the customer, entitlement or grant with this id, if this shard holds it.
    public func ownerKey(ofID id: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT owner_key FROM customers WHERE id = ?1
                    UNION ALL SELECT customer FROM entitlements WHERE id = ?1
                    UNION ALL SELECT customer FROM grants WHERE id = ?1 LIMIT 1
                    """, arguments: [id])
        }
    }

    /// `tally_slot(key, slotCount)`: the slot of a key as the cluster places it (`SlotTable.slot(of:slotCount:)`).
    static let slotFunction = DatabaseFunction("tally_slot", argumentCount: 2, pure: true) { values in
        guard let key = String.fromDatabaseValue(values[0]), let count = Int.fromDatabaseValue(values[1]), count > 0
        else { return nil }
        return SlotTable.slot(of: key, slotCount: count)
    }

    /// The SQL condition selecting the rows of table `name` whose owner key lies in `slots` (`?` is the slot count).
    private static func ownedCondition(_ name: String, slots: Set<Int>) -> String {
        let inSlots = "IN (" + slots.sorted().map(String.init).joined(separator: ", ") + ")"
        switch name {
        case "customers": return "tally_slot(owner_key, ?) \(inSlots)"
        case "customer_subjects":
            return "customer_id IN (SELECT id FROM customers WHERE tally_slot(owner_key, ?) \(inSlots))"
        case "entitlement_resets":
            return "entitlement_id IN (SELECT id FROM entitlements WHERE tally_slot(customer, ?) \(inSlots))"
        default: return "tally_slot(customer, ?) \(inSlots)"
        }
    }

    private static func customerRows(
        of slots: Set<Int>, slotCount: Int, db: Database
    ) throws -> [String: [[JSONValue]]] {
        var rows: [String: [[JSONValue]]] = [:]
        for (name, columns) in CustomerStateData.tables {
            let sql =
                "SELECT \(columns.joined(separator: ", ")) FROM \(name) WHERE \(ownedCondition(name, slots: slots))"
            rows[name] = try Row.fetchAll(db, sql: sql, arguments: [slotCount]).map { row in
                try (0..<columns.count).map { try ShardStore.jsonValue(row[$0] as DatabaseValue, table: name) }
            }
        }
        return rows
    }

    /// Deletes the rows of `slots`, subjects and resets before the customers and entitlements they hang on.
    private static func deleteCustomerRows(of slots: Set<Int>, slotCount: Int, db: Database) throws {
        for name in ["customer_subjects", "entitlement_resets", "customers", "grants", "entitlements"] {
            try db.execute(
                sql: "DELETE FROM \(name) WHERE \(ownedCondition(name, slots: slots))", arguments: [slotCount])
        }
    }

    /// The rows of data another shard sent, each checked to belong to `slots`: a row's slot is its owner key's
    /// (subjects through their customer, resets through their entitlement); a row of another slot, or naming a
    /// customer or entitlement the data lacks, is an error.
    static func ownedRows(
        _ rows: [String: [[JSONValue]]], slots: Set<Int>, slotCount: Int
    ) throws -> [String: [[JSONValue]]] {
        func inSlots(_ owner: JSONValue?) -> Bool {
            owner?.stringValue.map { slots.contains(SlotTable.slot(of: $0, slotCount: slotCount)) } ?? false
        }
        var customerOwner: [String: JSONValue] = [:]
        for row in rows["customers"] ?? [] { if let id = row[0].stringValue { customerOwner[id] = row[2] } }
        var entitlementOwner: [String: JSONValue] = [:]
        for row in rows["entitlements"] ?? [] { if let id = row[0].stringValue { entitlementOwner[id] = row[1] } }
        let ownerOf: [String: ([JSONValue]) -> JSONValue?] = [
            "customers": { $0[2] }, "customer_subjects": { $0[1].stringValue.flatMap { customerOwner[$0] } },
            "entitlements": { $0[1] }, "grants": { $0[2] },
            "entitlement_resets": { $0[0].stringValue.flatMap { entitlementOwner[$0] } },
        ]
        var kept: [String: [[JSONValue]]] = [:]
        for (name, _) in CustomerStateData.tables {
            for row in rows[name] ?? [] {
                guard inSlots(ownerOf[name]?(row)) else { throw SlotDataError.foreignCustomerRow(table: name) }
                kept[name, default: []].append(row)
            }
        }
        return kept
    }

    /// A column of a per-customer row as JSON: text, an integer or null (the only kinds these tables hold).
    static func jsonValue(_ value: DatabaseValue, table: String) throws -> JSONValue {
        switch value.storage {
        case .null: return .null
        case .int64(let number): return .number(String(number))
        case .string(let text): return .string(text)
        case .double, .blob: throw SlotDataError.invalidCustomerRow(table: table)
        }
    }

    /// A column of a per-customer row from JSON: a string, an integer number or null; anything else is refused.
    static func databaseValue(_ value: JSONValue, table: String) throws -> DatabaseValue {
        switch value {
        case .null: return .null
        case .string(let text): return text.databaseValue
        case .number(let text):
            guard let number = Int64(text) else { throw SlotDataError.invalidCustomerRow(table: table) }
            return number.databaseValue
        case .bool, .array, .object: throw SlotDataError.invalidCustomerRow(table: table)
        }
    }
}
