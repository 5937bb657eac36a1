/// The wire form of a `QueryAccumulator`'s partial rows, so a coordinator can merge shard answers exactly:
/// `{"earliest": µs|null, "rows": [{"windowStart": µs|null, "subject": s|null, "groups": [v|null...], "partial":
/// {...}}]}`.
/// Partials carry count, sum, min, max, latest (time and value) and every distinct value for UNIQUE_COUNT.
extension QueryAccumulator {
    public var partialsJSON: JSONValue {
        let rows = rows.map { key, partial -> JSONValue in
            .object([
                "windowStart": key.windowStart.map { .number(String($0.micros)) } ?? .null,
                "subject": key.subject.map { .string($0.text) } ?? .null,
                "groups": .array(key.groupValues.map { $0.map { .string($0.text) } ?? .null }),
                "partial": partial.json,
            ])
        }
        return .object(["earliest": earliest.map { .number(String($0.micros)) } ?? .null, "rows": .array(rows)])
    }

    /// Folds partial rows in their wire form into this accumulator; false (and nothing merged) when malformed.
    /// Also false when the rows carry more than `MeterQuery.maxDistinctValueEntries` distinct values.
    public mutating func merge(partialsJSON json: JSONValue) -> Bool {
        guard let items = json["rows"]?.arrayValue else { return false }
        let distinct = items.reduce(0) { $0 + ($1["partial"]?["uniques"]?.arrayValue?.count ?? 0) }
        guard distinct <= MeterQuery.maxDistinctValueEntries else { return false }
        var decoded: [(RowKey, PartialAggregate)] = []
        decoded.reserveCapacity(items.count)
        for item in items {
            guard let groups = item["groups"]?.arrayValue, groups.count == query.meterGroupNames.count,
                let partialJSON = item["partial"], let partial = PartialAggregate(json: partialJSON),
                let windowStart = QueryAccumulator.optionalMicros(item["windowStart"])
            else { return false }
            let subject: Identifier?
            switch item["subject"] {
            case .string(let text)?: subject = Identifier(text)
            case .null?: subject = nil
            default: return false
            }
            var values: [Identifier?] = []
            for group in groups {
                switch group {
                case .string(let text): values.append(Identifier(text))
                case .null: values.append(nil)
                default: return false
                }
            }
            decoded.append(
                (
                    RowKey(
                        windowStart: windowStart.map(Timestamp.init(micros:)), subject: subject, groupValues: values),
                    partial
                ))
        }
        guard let earliestMicros = QueryAccumulator.optionalMicros(json["earliest"]) else { return false }
        for (key, partial) in decoded { rows[key, default: PartialAggregate()].merge(partial) }
        if let micros = earliestMicros {
            let other = Timestamp(micros: micros)
            earliest = Swift.min(earliest ?? other, other)
        }
        return true
    }

    /// `.some(nil)` for JSON null, `.some(µs)` for an integer, nil for anything else.
    private static func optionalMicros(_ value: JSONValue?) -> Int64?? {
        switch value {
        case .null?: return .some(nil)
        case .number(let text)?: return Int64(text).map { .some($0) } ?? nil
        default: return nil
        }
    }
}

extension PartialAggregate {
    /// `{"count": n, "sum": x|null, "min": x|null, "max": x|null, "latest": {"time": µs, "value": x}|null,
    /// "uniques": [...]}`; `sum` is null when the count or sum overflowed.
    public var json: JSONValue {
        .object([
            "count": .number(String(count)), "sum": overflowed ? .null : .amount(sum),
            "min": min.map(JSONValue.amount) ?? .null, "max": max.map(JSONValue.amount) ?? .null,
            "latest": latest.map { .object(["time": .number(String($0.time.micros)), "value": .amount($0.value)]) }
                ?? .null,
            "uniques": .array(uniques.sorted().map { .string($0.text) }),
        ])
    }

    /// Reads the `json` form; nil when malformed.
    public init?(json: JSONValue) {
        func amount(_ value: JSONValue?) -> Amount?? {
            switch value {
            case .null?: return .some(nil)
            case .number(let text)?: return Amount(parsing: text).map { .some($0) } ?? nil
            default: return nil
            }
        }
        guard case .number(let countText)? = json["count"], let count = Int64(countText),
            let sum = amount(json["sum"]), let min = amount(json["min"]), let max = amount(json["max"]),
            let uniqueItems = json["uniques"]?.arrayValue
        else { return nil }
        let uniques = uniqueItems.compactMap(\.stringValue)
        guard uniques.count == uniqueItems.count else { return nil }
        var latest: LatestValue?
        switch json["latest"] {
        case .null?: latest = nil
        case .object(let members)?:
            guard case .number(let timeText)? = members["time"], let time = Int64(timeText),
                let value = amount(members["value"]), let value
            else { return nil }
            latest = LatestValue(time: Timestamp(micros: time), value: value)
        default: return nil
        }
        self.init(
            count: count, sum: sum ?? .zero, min: min, max: max, latest: latest,
            uniques: Set(uniques.map { Identifier($0) }),
            overflowed: sum == nil)
    }
}
