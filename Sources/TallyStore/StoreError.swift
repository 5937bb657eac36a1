import TallyCore

/// Store failures that callers turn into specific answers (404, 409, 503, 507).
public enum StoreError: Error, Sendable, Equatable {
    case meterNotFound(String)
    case slugTaken(String)
    /// The ingest queue is full (`maxQueuedBatches`); nothing was stored, retry later.
    case overloaded
    /// Aggregates are too far behind ingestion (`maxPendingAggregateKeysBeforeRefusal`); nothing was stored.
    case aggregatesBehind
    /// The disk is full (`SQLITE_FULL`): the transaction was rolled back and nothing of it was applied.
    case diskFull
    /// The meter is still being back-filled from raw events (`MeterBuild.progress` done): its answer would miss
    /// events, so it is refused unless partial data is allowed.
    case meterBuilding(slug: String, progress: Double)
    /// Another write failure: the transaction was rolled back and nothing of it was applied.
    case writeFailed(String)
}

extension StoreError {
    /// A one-line account for messages and logs.
    public var summary: String {
        switch self {
        case .meterNotFound(let idOrSlug): "no meter \(idOrSlug.echoed)"
        case .slugTaken(let slug): "slug \(slug) is taken"
        case .overloaded: "the ingest queue is full"
        case .aggregatesBehind: "aggregates are behind ingestion"
        case .diskFull: "the disk is full"
        case .meterBuilding(let slug, let progress): "meter \(slug) is back-filling (\(Int(progress * 100))% done)"
        case .writeFailed(let reason): reason
        }
    }
}
