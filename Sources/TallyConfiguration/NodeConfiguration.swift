import Foundation
import TallyCore
import TallyStore
import Yams

/// A node's settings, read from YAML (see `cluster-config/`). Every field is optional; defaults are documented in
/// `docs/configuration.md`.
public struct NodeConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Folder holding the node's SQLite files.
    public var dataDirectory = "./.tally/node"
    /// Accepted API keys (`apiKeys`, `adminApiKeys`); none means the API is open.
    public var apiKeys: APIKeys = []
    public var limits = APILimits()
    public var store = StoreConfiguration()
    /// Meters declared as code, created at start when no live meter has their slug.
    public var meters: [MeterSpec] = []
    /// Largest `limits.backfillChunkEvents`: a chunk's partials are held in memory (about 1 KB per event).
    public static let maxBackfillChunkEvents = 1_000_000
    /// Largest `limits.backfillInlinePositions`: a meter change waits for a back-fill this large.
    public static let maxBackfillInlinePositions = 10_000_000
    /// The cluster a coordinator runs (`cluster:` section); nil for a single node or a worker.
    public var cluster: ClusterSettings?

    public init() {}

    /// Why a configuration file was rejected.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public var errors: [FieldError]
        public init(errors: [FieldError]) { self.errors = errors }
        public var description: String { errors.map { "\($0.field): \($0.reason)" }.joined(separator: "\n") }
    }

    /// Reads YAML text; every invalid field is reported.
    public static func parse(yaml: String) throws -> NodeConfiguration {
        let root = try Yams.compose(yaml: yaml).map(json) ?? .object([:])
        guard case .object(let members) = root else {
            throw Invalid(errors: [FieldError(field: "(root)", reason: "must be a mapping")])
        }
        var config = NodeConfiguration()
        var errors: [FieldError] = []
        let known = [
            "host", "port", "dataDir", "apiKeys", "adminApiKeys", "dedupWindowDays", "limits", "meters", "cluster",
        ]
        let knownLimits = [
            "maxBodyBytes", "maxBatchEvents", "maxConnections", "idleTimeoutSeconds", "maxGroupCommitBatches",
            "maxQueuedBatches", "backfillChunkEvents", "backfillInlinePositions",
        ]
        for key in members.keys where !known.contains(key) {
            errors.append(FieldError(field: key, reason: "unknown setting; known: \(known.joined(separator: ", "))"))
        }
        for key in members["limits"]?.objectValue?.keys ?? [] where !knownLimits.contains(key) {
            errors.append(
                FieldError(
                    field: "limits.\(key)", reason: "unknown limit; known: \(knownLimits.joined(separator: ", "))"))
        }
        func integer(_ value: JSONValue?, _ field: String, minimum: Int = 0, maximum: Int = .max) -> Int? {
            guard let value else { return nil }
            guard case .number(let text) = value, let parsed = Int(text), (minimum...maximum).contains(parsed) else {
                let range = maximum == .max ? "≥ \(minimum)" : "from \(minimum) to \(maximum)"
                errors.append(FieldError(field: field, reason: "must be an integer \(range)"))
                return nil
            }
            return parsed
        }
        if let host = members["host"] {
            if let text = host.stringValue {
                config.host = text
            } else {
                errors.append(FieldError(field: "host", reason: "must be a string"))
            }
        }
        if let port = integer(members["port"], "port") { config.port = port }
        if let data = members["dataDir"] {
            if let text = data.stringValue {
                config.dataDirectory = text
            } else {
                errors.append(FieldError(field: "dataDir", reason: "must be a string"))
            }
        }
        if let keys = members["apiKeys"] {
            config.apiKeys.keys = APIKeys.parse(keys, field: "apiKeys", errors: &errors)
        }
        if let keys = members["adminApiKeys"] {
            config.apiKeys.adminKeys = APIKeys.parse(keys, field: "adminApiKeys", errors: &errors)
        }
        if let days = integer(members["dedupWindowDays"], "dedupWindowDays", minimum: 1) {
            config.store.dedupWindowSeconds = Int64(days) * 86_400
        }
        if let limits = members["limits"]?.objectValue {
            if let value = integer(limits["maxBodyBytes"], "limits.maxBodyBytes", minimum: 1) {
                config.limits.maxBodyBytes = value
            }
            if let value = integer(limits["maxBatchEvents"], "limits.maxBatchEvents", minimum: 1) {
                config.limits.maxBatchEvents = value
            }
            if let value = integer(limits["maxConnections"], "limits.maxConnections", minimum: 1) {
                config.limits.maxConnections = value
            }
            if let value = integer(limits["idleTimeoutSeconds"], "limits.idleTimeoutSeconds", minimum: 1) {
                config.limits.idleTimeoutSeconds = value
            }
            if let value = integer(limits["maxGroupCommitBatches"], "limits.maxGroupCommitBatches", minimum: 1) {
                config.store.maxGroupCommitBatches = value
            }
            if let value = integer(limits["maxQueuedBatches"], "limits.maxQueuedBatches", minimum: 1) {
                config.store.maxQueuedBatches = value
            }
            if let value = integer(
                limits["backfillChunkEvents"], "limits.backfillChunkEvents", minimum: 1,
                maximum: NodeConfiguration.maxBackfillChunkEvents)
            {
                config.store.backfillChunkEvents = value
            }
            if let value = integer(
                limits["backfillInlinePositions"], "limits.backfillInlinePositions",
                maximum: NodeConfiguration.maxBackfillInlinePositions)
            {
                config.store.backfillInlinePositions = Int64(value)
            }
        }
        for (index, meter) in (members["meters"]?.arrayValue ?? []).enumerated() {
            switch MeterSpec.parse(meter) {
            case .success(let spec): config.meters.append(spec)
            case .failure(let failure):
                errors += failure.errors.map { FieldError(field: "meters[\(index)].\($0.field)", reason: $0.reason) }
            }
        }
        if let cluster = members["cluster"] { config.cluster = ClusterSettings.parse(cluster, errors: &errors) }
        guard errors.isEmpty else { throw Invalid(errors: errors) }
        return config
    }

    /// Reads a YAML file.
    public static func load(path: String) throws -> NodeConfiguration {
        try parse(yaml: String(contentsOfFile: path, encoding: .utf8))
    }

    /// YAML scalars become JSON strings, numbers, booleans or null by their resolved tag; aliases are not supported.
    private static func json(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch node.tag.description {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return .bool(node.bool ?? false)
            case Tag.Name.int.rawValue, Tag.Name.float.rawValue:
                return Amount(parsing: scalar.string) != nil ? .number(scalar.string) : .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .mapping(let mapping):
            var members: JSONObject = [:]
            for (key, value) in mapping { members[key.string ?? ""] = json(value) }
            return .object(members)
        case .sequence(let sequence):
            return .array(sequence.map(json))
        case .alias:
            return .null
        }
    }
}
