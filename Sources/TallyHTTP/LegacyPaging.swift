import Hummingbird
import HummingbirdCore
import TallyCore

/// Upstream's two list styles: with `page` or `pageSize` a page object `{items, page, pageSize, totalCount}`,
/// otherwise a plain array cut by `offset` and `limit` (default 100).
public enum LegacyPaging {
    /// Largest `pageSize` and `limit` accepted.
    public static let maxPageSize = 1000
    /// Largest `page` and `offset` accepted.
    public static let maxPage = 1_000_000

    public static func response(
        _ items: [JSONValue], _ parameters: FlatDictionary<Substring, Substring>
    ) throws
        -> Response
    {
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
        let paged = parameters["page"] != nil || parameters["pageSize"] != nil
        let page = integer("page", default: 1, range: 1...maxPage)
        let pageSize = integer("pageSize", default: 100, range: 1...maxPageSize)
        let offset = integer("offset", default: 0, range: 0...maxPage)
        let limit = integer("limit", default: 100, range: 1...maxPageSize)
        guard errors.isEmpty else { throw Problem.invalid("invalid listing parameters", errors) }
        if paged {
            let start = min(items.count, (page - 1) * pageSize)
            return Response.json(
                .object([
                    "items": .array(Array(items[start..<min(items.count, start + pageSize)])),
                    "page": .number("\(page)"), "pageSize": .number("\(pageSize)"),
                    "totalCount": .number("\(items.count)"),
                ]))
        }
        let start = min(items.count, offset)
        return Response.json(.array(Array(items[start..<min(items.count, start + limit)])))
    }

    /// The `order` parameter: ASC (default) or DESC.
    public static func descending(_ parameters: FlatDictionary<Substring, Substring>) throws -> Bool {
        switch parameters["order"] {
        case nil, "ASC": false
        case "DESC": true
        default: throw Problem.invalidField("order", "must be ASC or DESC")
        }
    }
}
