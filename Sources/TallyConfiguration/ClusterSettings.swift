import TallyCore

/// The `cluster:` section of a coordinator's configuration: the workers, the slot count and the limits of
/// node-to-node traffic. Defaults are documented in `docs/configuration.md`.
public struct ClusterSettings: Sendable, Hashable {
    /// One worker: its node name (the name in its certificate) and the base URL the coordinator dials.
    public struct Worker: Sendable, Hashable {
        public var name: String
        public var url: String

        public init(name: String, url: String) {
            self.name = name
            self.url = url
        }
    }

    /// Slots of a new cluster (`slot = XXH64(subject) mod slots`); fixed once the cluster exists.
    public var slots = SlotTable.defaultSlotCount
    public var workers: [Worker] = []
    /// Copies of every slot, each on another worker (`maxReplicationFactor` at most): an acknowledged event is
    /// committed by every live copy, so it survives the loss of `replicationFactor - 1` workers.
    public var replicationFactor = 2
    /// The ceiling of `replicationFactor`.
    public static let maxReplicationFactor = 3
    /// Longest wait for a worker's answer to one forwarded request, in milliseconds.
    public var forwardTimeoutMs = 10_000
    /// Time between two health probes of every worker, in milliseconds.
    public var workerProbeIntervalMs = 1_000
    /// How long a worker may answer no probe before it is declared down, in milliseconds; before that it is only
    /// suspect. At least `workerProbeIntervalMs`; when not set, 5,000 or the probe interval if that is longer.
    public var workerFailureTimeoutMs = 5_000
    /// The ceiling of `forwardTimeoutMs`, `workerProbeIntervalMs` and `workerFailureTimeoutMs`: one hour.
    public static let maxWorkerTimingMs = 3_600_000
    /// Most pooled keep-alive connections the coordinator keeps to one worker.
    public var maxConnectionsPerWorker = 64
    /// Parts of concurrent batches bound for one worker are sent together, up to this many bytes per request.
    public var maxForwardBodyBytes = 8 * 1024 * 1024
    /// Combined requests in flight to one worker at once; parts arriving meanwhile wait and go together.
    public var maxForwardsInFlightPerWorker = 2
    /// Parts waiting for one worker; beyond, ingestion answers 503 `overloaded` and forwards nothing.
    public var maxQueuedPartsPerWorker = 4096
    /// Most events of the moving slots one chunk of a slot move carries (a worker joining pulls chunk by chunk).
    public var moveChunkEvents = ClusterSettings.maxMoveChunkEvents
    /// The ceiling of `moveChunkEvents`: what a worker serves in one chunk at most.
    public static let maxMoveChunkEvents = 20_000
    /// Pause between two anti-entropy rounds, each comparing the digests of `antiEntropySlotsPerRound` slots between
    /// their copies; 0 turns anti-entropy off.
    public var antiEntropyIntervalMs = 2_000
    /// Slots compared per anti-entropy round: writes to them wait while their copies compute their digests.
    public var antiEntropySlotsPerRound = 8
    /// Largest forwarded request a worker accepts, in bytes (and so the ceiling of `maxForwardBodyBytes`).
    public static let forwardBodyBytesCeiling = 64 * 1024 * 1024
    /// Most events in one forwarded request a worker accepts: no valid event is shorter than 50 bytes.
    public static let forwardEventsCeiling = forwardBodyBytesCeiling / 50
    /// Folder of the cluster CA and node certificates.
    public var certsDir = "./.tally/certs"

    public init() {}

    /// What a worker name may be: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.
    public static let workerNamePattern = #"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"#

    static let knownKeys = [
        "slots", "workers", "replicationFactor", "forwardTimeoutMs", "workerProbeIntervalMs", "workerFailureTimeoutMs",
        "maxConnectionsPerWorker", "certsDir", "maxForwardBodyBytes", "maxForwardsInFlightPerWorker",
        "maxQueuedPartsPerWorker", "moveChunkEvents", "antiEntropyIntervalMs", "antiEntropySlotsPerRound",
    ]

    /// Reads the section; problems are appended to `errors` with `cluster.` field names.
    static func parse(_ json: JSONValue, errors: inout [FieldError]) -> ClusterSettings {
        var settings = ClusterSettings()
        guard case .object(let members) = json else {
            errors.append(FieldError(field: "cluster", reason: "must be a mapping"))
            return settings
        }
        for key in members.keys where !knownKeys.contains(key) {
            errors.append(
                FieldError(
                    field: "cluster.\(key)", reason: "unknown setting; known: \(knownKeys.joined(separator: ", "))"))
        }
        func integer(_ key: String, minimum: Int, maximum: Int = .max, _ apply: (Int) -> Void) {
            guard let value = members[key] else { return }
            guard case .number(let text) = value, let parsed = Int(text), parsed >= minimum, parsed <= maximum else {
                errors.append(
                    FieldError(
                        field: "cluster.\(key)",
                        reason: maximum == .max
                            ? "must be an integer ≥ \(minimum)" : "must be an integer from \(minimum) to \(maximum)"))
                return
            }
            apply(parsed)
        }
        integer("slots", minimum: 1, maximum: SlotTable.maxSlotCount) { settings.slots = $0 }
        integer("replicationFactor", minimum: 1, maximum: maxReplicationFactor) { settings.replicationFactor = $0 }
        integer("forwardTimeoutMs", minimum: 1, maximum: maxWorkerTimingMs) { settings.forwardTimeoutMs = $0 }
        integer("workerProbeIntervalMs", minimum: 10, maximum: maxWorkerTimingMs) {
            settings.workerProbeIntervalMs = $0
        }
        integer("workerFailureTimeoutMs", minimum: 10, maximum: maxWorkerTimingMs) {
            settings.workerFailureTimeoutMs = $0
        }
        if members["workerFailureTimeoutMs"] == nil {
            settings.workerFailureTimeoutMs = max(settings.workerFailureTimeoutMs, settings.workerProbeIntervalMs)
        } else if settings.workerFailureTimeoutMs < settings.workerProbeIntervalMs {
            errors.append(
                FieldError(
                    field: "cluster.workerFailureTimeoutMs",
                    reason: "must be at least cluster.workerProbeIntervalMs (\(settings.workerProbeIntervalMs))"))
        }
        integer("maxConnectionsPerWorker", minimum: 1) { settings.maxConnectionsPerWorker = $0 }
        integer("maxForwardBodyBytes", minimum: 1, maximum: forwardBodyBytesCeiling) {
            settings.maxForwardBodyBytes = $0
        }
        integer("maxForwardsInFlightPerWorker", minimum: 1) { settings.maxForwardsInFlightPerWorker = $0 }
        integer("maxQueuedPartsPerWorker", minimum: 1) { settings.maxQueuedPartsPerWorker = $0 }
        integer("moveChunkEvents", minimum: 1, maximum: maxMoveChunkEvents) { settings.moveChunkEvents = $0 }
        integer("antiEntropyIntervalMs", minimum: 0, maximum: maxWorkerTimingMs) { settings.antiEntropyIntervalMs = $0 }
        integer("antiEntropySlotsPerRound", minimum: 1, maximum: SlotTable.maxSlotCount) {
            settings.antiEntropySlotsPerRound = $0
        }
        if let dir = members["certsDir"] {
            if let text = dir.stringValue {
                settings.certsDir = text
            } else {
                errors.append(FieldError(field: "cluster.certsDir", reason: "must be a string"))
            }
        }
        var seen = Set<String>()
        for (index, item) in (members["workers"]?.arrayValue ?? []).enumerated() {
            let field = "cluster.workers[\(index)]"
            guard let name = item["name"]?.stringValue,
                name.range(of: workerNamePattern, options: .regularExpression) != nil
            else {
                errors.append(
                    FieldError(field: field + ".name", reason: "must be 1-64 letters, digits, '.', '_' or '-'"))
                continue
            }
            guard let url = item["url"]?.stringValue, url.hasPrefix("https://") else {
                errors.append(
                    FieldError(
                        field: field + ".url", reason: "must be an https:// URL (workers are reached over mutual TLS)"))
                continue
            }
            if name == "coordinator" {
                errors.append(
                    FieldError(field: field + ".name", reason: "\"coordinator\" is the coordinator's own name"))
                continue
            }
            if !seen.insert(name).inserted {
                errors.append(FieldError(field: field + ".name", reason: "\(name) is listed twice"))
            }
            settings.workers.append(Worker(name: name, url: url.hasSuffix("/") ? String(url.dropLast()) : url))
        }
        if settings.workers.isEmpty {
            errors.append(FieldError(field: "cluster.workers", reason: "list at least one worker (name and url)"))
        }
        return settings
    }
}
