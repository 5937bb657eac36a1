/// Store failures that callers turn into specific answers (404, 409).
public enum StoreError: Error, Sendable, Equatable {
    case meterNotFound(String)
    case slugTaken(String)
}
