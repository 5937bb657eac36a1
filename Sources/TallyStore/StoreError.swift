/// Store failures that callers turn into specific answers (404, 409, 503).
public enum StoreError: Error, Sendable, Equatable {
    case meterNotFound(String)
    case slugTaken(String)
    /// The ingest queue is full (`maxQueuedBatches`); nothing was stored, retry later.
    case overloaded
}
