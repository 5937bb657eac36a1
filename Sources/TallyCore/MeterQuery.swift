/// A validated meter query: [from, to), optional tumbling windows, subject and group filters.
public struct MeterQuery: Sendable {
    /// Most subjects one query may filter on.
    public static let maxSubjects = 100
    /// Most group names one query may group by.
    public static let maxGroupBy = 100

    public var from: Timestamp?
    public var to: Timestamp?
    public var windowSize: WindowSize?
    public var windowTimeZone: String
    public var subjects: [String]
    /// Requested groupings; may include `subject`.
    public var groupBy: [String]
    /// Group name → allowed values (exact match).
    public var filterGroupBy: [String: [String]]

    public init(from: Timestamp? = nil, to: Timestamp? = nil, windowSize: WindowSize? = nil, windowTimeZone: String = "UTC",
                subjects: [String] = [], groupBy: [String] = [], filterGroupBy: [String: [String]] = [:]) {
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
        let calendar = WindowCalendar(timeZoneIdentifier: windowTimeZone)
        if calendar == nil { errors.append(FieldError(field: "windowTimeZone", reason: "unknown IANA time zone \"\(windowTimeZone)\"")) }
        if subjects.count > MeterQuery.maxSubjects {
            errors.append(FieldError(field: "subject", reason: "at most \(MeterQuery.maxSubjects) subjects per query"))
        }
        if groupBy.count > MeterQuery.maxGroupBy {
            errors.append(FieldError(field: "groupBy", reason: "at most \(MeterQuery.maxGroupBy) group names per query"))
        }
        for name in meterGroupNames where meter.groupBy[name] == nil {
            errors.append(FieldError(field: "groupBy", reason: "meter \(meter.slug) has no group \"\(name)\""))
        }
        for name in filterGroupBy.keys.sorted() where meter.groupBy[name] == nil {
            errors.append(FieldError(field: "filterGroupBy.\(name)", reason: "meter \(meter.slug) has no group \"\(name)\""))
        }
        guard errors.isEmpty, let calendar else { return .failure(ValidationFailure(errors)) }
        return .success(calendar)
    }

    /// Whether a sample's subject and group values pass the filters.
    public func accepts(subject: String, groupValues: [String: String?]) -> Bool {
        if !subjects.isEmpty, !subjects.contains(subject) { return false }
        for (name, allowed) in filterGroupBy {
            guard let value = groupValues[name] ?? nil, allowed.contains(value) else { return false }
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
