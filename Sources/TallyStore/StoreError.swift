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
        case .writeFailed(let reason): reason
        }
    }
}
