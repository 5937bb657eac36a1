import Synchronization
import TallyCore

/// What one event contributes to one meter.
struct PreparedSample: Sendable {
    var meterID: String
    var sample: MeterSample
}

/// An event made ready for the writer before the write transaction: its stored JSON and its samples
/// for every live meter. Doing this outside the transaction keeps the single SQLite writer busy only
/// with SQL, while the CPU work runs in parallel on the request threads.
struct PreparedEvent: Sendable {
    var event: CloudEvent
    var body: String
    var samples: [PreparedSample]
    /// When the shard that first stored it received it (an event installed from another shard); nil for an event
    /// ingested now.
    var ingested: Timestamp?

    init(_ event: CloudEvent, meters: [MeterDefinition], ingested: Timestamp? = nil) {
        self.event = event
        self.body = event.receivedJSON ?? JSONWriter.string(event.json)
        self.samples = PreparedEvent.samples(of: event, meters: meters)
        self.ingested = ingested
    }

    /// The samples of `event` for every meter that matches it and can read its value.
    static func samples(of event: CloudEvent, meters: [MeterDefinition]) -> [PreparedSample] {
        meters.compactMap { meter in
            guard meter.matches(event), case .success(let sample) = meter.sample(event) else { return nil }
            return PreparedSample(meterID: meter.id, sample: sample)
        }
    }
}

/// A batch prepared against one generation of the meter set; the writer re-prepares it if meters changed since.
struct PreparedBatch: Sendable {
    var meterGeneration: Int
    var events: [PreparedEvent]
    /// The partials of all its events, built on the request's thread; the writer uses it when every event was new
    /// and the meters did not change, and rebuilds it from the events it stored otherwise.
    var buffer: AggregateBuffer
    let admission: Admission
    /// The uses of entitlements that reject usage without access, judged by the writer (`ingestEnforced`).
    let enforcement: EnforcementPlan?
    /// Whether an installed event whose key is taken is still new when no stored copy was received at the same
    /// instant (a slot copy: the source may hold an event twice, sent again after its de-dup window); false when an
    /// installed copy only fills in what is missing (anti-entropy's merge), so a taken key always means "stored".
    let tellsReceiptsApart: Bool

    init(
        meterGeneration: Int, events: [PreparedEvent], admission: Admission, enforcement: EnforcementPlan? = nil,
        tellsReceiptsApart: Bool = true
    ) {
        self.meterGeneration = meterGeneration
        self.events = events
        self.admission = admission
        self.enforcement = enforcement
        self.tellsReceiptsApart = tellsReceiptsApart
        var buffer = AggregateBuffer()
        for prepared in events { buffer.add(prepared.samples, of: prepared.event) }
        self.buffer = buffer
    }
}

/// The admission check of one batch, run by the writer inside the transaction, and its outcome.
final class Admission: Sendable {
    private let check: (@Sendable () throws -> Void)?
    private let outcome = Mutex<(any Error)?>(nil)

    init(check: (@Sendable () throws -> Void)?) { self.check = check }

    /// Runs the check; false (and the error kept as `refusal`) when it refuses the batch.
    func admits() -> Bool {
        guard let check else { return true }
        do {
            try check()
            return true
        } catch {
            outcome.withLock { $0 = error }
            return false
        }
    }

    /// Refuses the batch for another reason than the check (its enforcement plan).
    func refuse(_ error: any Error) { outcome.withLock { $0 = error } }

    /// Why the writer refused the batch; nil when it was admitted.
    var refusal: (any Error)? { outcome.withLock { $0 } }
}

/// The live meters and a counter bumped on every change.
struct MeterSet: Sendable {
    var generation = 0
    var byID: [String: MeterDefinition] = [:]
}
