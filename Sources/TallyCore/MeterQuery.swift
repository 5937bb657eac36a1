/// A validated meter query: [from, to), optional tumbling windows, subject and group filters.
public struct MeterQuery: Sendable {
    /// Most subjects one query may filter on.
    public static let maxSubjects = 100
    /// Most group names one query may group by.
    public static let maxGroupBy = 100
    /// Most values one `filterGroupBy` may list, over all its groups.
    public static let maxFilterValues = 1000
    /// Most windows a query with `from`, `to` and `windowSize` may span.
    public static let maxQueryWindows = 100_000
    /// Longest IANA time zone name accepted, in bytes.
    public static let maxTimeZoneBytes = 64
    /// Most (minute, subject, group, value) entries of a UNIQUE_COUNT meter one query reads or carries in a
    /// partial answer; beyond, the query answers `QueryTooLarge` (422) instead of exhausting memory.
    public static let maxDistinctValueEntries = 2_000_000

    public var from: Timestamp?
    public var to: Timestamp?
    public var windowSize: WindowSize?
    public var windowTimeZone: String
    public var subjects: [String]
    /// Requested groupings; may include `subject`.
    public var groupBy: [String]
    /// Group name → allowed values (exact match).
    public var filterGroupBy: [String: [String]]

    public init(
        from: Timestamp? = nil, to: Timestamp? = nil, windowSize: WindowSize? = nil, windowTimeZone: String = "UTC",
        subjects: [String] = [], groupBy: [String] = [], filterGroupBy: [String: [String]] = [:]
    ) {
        self.from = from
        self.to = to
        self.windowSize = windowSize
        self.windowTimeZone = windowTimeZone
        self.subjects = subjects
        self.groupBy = groupBy
        self.filterGroupBy = filterGroupBy
    }

    /// Whether rows carry the subject: when grouping by `subject` or filtering by subjects.
    public var groupsBySubject: Bool { groupBy.contains("subject") || !subjects.isEmpty }

    /// The meter group names requested, without `subject`, in request order without repeats.
    public var meterGroupNames: [String] {
        var seen = Set<String>()
        return groupBy.filter { $0 != "subject" && seen.insert($0).inserted }
    }

    /// Checks the query against `meter`; every problem is reported.
    public func validate(for meter: MeterDefinition) -> Result<WindowCalendar, ValidationFailure> {
        var errors: [FieldError] = []
        if let from, let to, from > to { errors.append(FieldError(field: "from", reason: "must not be after to")) }
        let zoneIsWellFormed =
            windowTimeZone.utf8.count <= MeterQuery.maxTimeZoneBytes
            && windowTimeZone.utf8.allSatisfy {
                (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 95 || $0 == 43
                    || $0 == 45 || $0 == 47
            }
        let calendar = zoneIsWellFormed ? WindowCalendar(timeZoneIdentifier: windowTimeZone) : nil
        if calendar == nil {
            errors.append(
                FieldError(field: "windowTimeZone", reason: "unknown IANA time zone \"\(windowTimeZone.echoed)\""))
        }
        if let from, let to, let windowSize, from <= to,
            windowSize.minimumWindows(from: from, to: to) > MeterQuery.maxQueryWindows
        {
            errors.append(
                FieldError(
                    field: "windowSize",
                    reason: "the range holds more than \(MeterQuery.maxQueryWindows) "
                        + "\(windowSize.rawValue) windows (maxQueryWindows); use a larger window or a shorter range"))
        }
        if filterGroupBy.values.reduce(0, { $0 + $1.count }) > MeterQuery.maxFilterValues {
            errors.append(
                FieldError(field: "filterGroupBy", reason: "at most \(MeterQuery.maxFilterValues) values per query"))
        }
        if subjects.count > MeterQuery.maxSubjects {
            errors.append(FieldError(field: "subject", reason: "at most \(MeterQuery.maxSubjects) subjects per query"))
        }
        if groupBy.count > MeterQuery.maxGroupBy {
            errors.append(
                FieldError(field: "groupBy", reason: "at most \(MeterQuery.maxGroupBy) group names per query"))
        }
        for name in meterGroupNames where meter.groupBy[name] == nil {
            errors.append(FieldError(field: "groupBy", reason: "meter \(meter.slug) has no group \"\(name.echoed)\""))
        }
        for name in filterGroupBy.keys.sorted() where meter.groupBy[name] == nil {
            errors.append(
                FieldError(
                    field: "filterGroupBy.\(name.echoed)",
                    reason: "meter \(meter.slug) has no group \"\(name.echoed)\""))
        }
        guard errors.isEmpty, let calendar else { return .failure(ValidationFailure(errors)) }
        return .success(calendar)
    }

    /// Whether a sample's subject and group values pass the filters.
    /// Subjects and group values are compared by their bytes.
    public func accepts(subject: String, groupValues: [String: String?]) -> Bool {
        if !subjects.isEmpty, !subjects.contains(where: { $0.bytesEqual(subject) }) { return false }
        for (name, allowed) in filterGroupBy {
            guard let value = groupValues[name] ?? nil, allowed.contains(where: { $0.bytesEqual(value) }) else {
                return false
            }
        }
        return true
    }
}

/// One row of a query answer (upstream `MeterQueryRow`).
public struct MeterQueryRow: Sendable, Hashable {
    public var value: Amount
    public var windowStart: Timestamp
    public var windowEnd: Timestamp
    public var subject: String?
    /// Requested group name → value; nil for events without that group value.
    public var groupBy: [String: String?]
}
