import Foundation
import TallyCore

/// Why a feature, entitlement, grant or reset request was refused; mapped to problems (400/404/409) at the HTTP edge.
public enum EntitlementStoreError: Error, Sendable, Equatable {
    case featureNotFound(String)
    /// A live feature already uses this key.
    case featureKeyTaken(String)
    /// The feature names a meter that does not exist.
    case meterNotFound(String)
    /// The feature's meter aggregates with something entitlements cannot burn (AVG, MIN, MAX).
    case meterAggregationUnsupported(String)
    case entitlementNotFound(String)
    /// The customer already has an active entitlement to the feature.
    case entitlementExists(conflictingID: String)
    case grantNotFound(String)
    /// A field is valid on its own but not for this entitlement now.
    case invalid(field: String, reason: String)
}

/// Records encoded into the store's `body` columns.
enum EntitlementRecords {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
