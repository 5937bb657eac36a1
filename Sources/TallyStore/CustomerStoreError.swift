/// Why a customer or subject request was refused; mapped to problems (404/409) at the HTTP edge.
public enum CustomerStoreError: Error, Sendable, Equatable {
    case customerNotFound(String)
    /// A live customer already uses this key.
    case customerKeyTaken(String)
    /// The subject key is attributed to another live customer (its id).
    case subjectAttributed(subject: String, customerID: String)
    /// The subject key holds entitlements as its own customer: attributing it elsewhere would orphan them.
    case subjectHasEntitlements(String)
    /// The customer holds entitlements under its key: it cannot be deleted or change its key.
    case customerHasEntitlements(String)
}
