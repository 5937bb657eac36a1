extension MeterQuery {
    /// The query as an upstream `MeterQueryRequest` body (`POST /api/v1/meters/{m}/query`); reading it back gives this
    /// query.
    public var requestJSON: JSONValue {
        var members: JSONObject = [
            "windowTimeZone": .string(windowTimeZone),
            "subject": .array(subjects.map(JSONValue.string)),
            "groupBy": .array(groupBy.map(JSONValue.string)),
            "filterGroupBy": .object(JSONObject(filterGroupBy) { .array($0.map(JSONValue.string)) }),
        ]
        if let from { members["from"] = .string(from.description) }
        if let to { members["to"] = .string(to.description) }
        if let windowSize { members["windowSize"] = .string(windowSize.rawValue) }
        return .object(members)
    }
}
