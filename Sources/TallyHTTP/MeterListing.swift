import Hummingbird
import HummingbirdCore
import TallyCore

/// Sorting and paging of `GET /api/v1/meters`: `page`, `pageSize`, `order` (ASC/DESC), `orderBy`, `includeDeleted`.
public enum MeterListing {
    /// Largest `pageSize` accepted.
    public static let maxPageSize = 1000
    /// Largest `page` accepted: far beyond any catalog, small enough that `page × pageSize` cannot overflow.
    public static let maxPage = 1_000_000

    /// The requested page of `meters` (live and deleted); every invalid parameter is reported.
    public static func page(
        of meters: [MeterDefinition], _ parameters: FlatDictionary<Substring, Substring>
    ) throws -> [MeterDefinition] {
        var errors: [FieldError] = []
        func integer(_ name: String, default value: Int, range: ClosedRange<Int>) -> Int {
            guard let text = parameters[Substring(name)] else { return value }
            guard let parsed = Int(text), range.contains(parsed) else {
                errors.append(
                    FieldError(
                        field: name, reason: "must be an integer from \(range.lowerBound) to \(range.upperBound)"))
                return value
            }
            return parsed
        }
        let page = integer("page", default: 1, range: 1...maxPage)
        let pageSize = integer("pageSize", default: 100, range: 1...maxPageSize)
        let order = parameters["order"].map(String.init) ?? "ASC"
        if order != "ASC" && order != "DESC" {
            errors.append(FieldError(field: "order", reason: "must be ASC or DESC"))
        }
        let orderBy = parameters["orderBy"].map(String.init) ?? "key"
        let keys: [String: (MeterDefinition) -> String] = [
            "key": { $0.slug }, "name": { $0.name }, "aggregation": { $0.aggregation.rawValue },
            "createdAt": { $0.createdAt.description }, "updatedAt": { $0.updatedAt.description },
        ]
        if keys[orderBy] == nil {
            errors.append(
                FieldError(field: "orderBy", reason: "must be one of key, name, aggregation, createdAt, updatedAt"))
        }
        let includeDeleted = parameters["includeDeleted"].map { $0 == "true" } ?? false
        guard errors.isEmpty, let sortKey = keys[orderBy] else {
            throw Problem.invalid("invalid meter listing parameters", errors)
        }
        var listed = meters.filter { includeDeleted || $0.deletedAt == nil }.sorted {
            (sortKey($0), $0.id) < (sortKey($1), $1.id)
        }
        if order == "DESC" { listed.reverse() }
        let start = min(listed.count, (page - 1) * pageSize)
        return Array(listed[start..<min(listed.count, start + pageSize)])
    }
}
