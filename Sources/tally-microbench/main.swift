import Foundation
import TallyCore

/// `tally-microbench`: CPU cost per event of each pure ingestion stage (parse, validate, sample the
/// benchmark's four meters), on the same events `tally-loadgen` sends. Prints µs per event.

/// A 100-event batch shaped like the load generator's.
func makeBatch() -> [UInt8] {
    let models = ["gpt-4", "gpt-4o", "small", "large"]
    let events = (0..<100).map { index in
        #"{"id":"1234567890-3-\#(100_000 + index)","source":"loadgen","specversion":"1.0","type":"request","#
            + #""subject":"customer-\#(index * 7 % 1000)","time":"2026-11-26T10:00:00Z","#
            + #""data":{"tokens":\#(index % 97),"#
            + #""duration_ms":"\#(index % 13).5","model":"\#(models[index % 4])","user":"u\#(index % 50)"}}"#
    }
    return Array(("[" + events.joined(separator: ",") + "]").utf8)
}

/// The four meters of `scripts/bench.sh`.
func makeMeters() throws -> [MeterDefinition] {
    let specs = [
        MeterSpec(
            slug: "tokens_total", aggregation: .sum, eventType: "request",
            valueProperty: try JSONPath(parsing: "$.tokens"),
            groupBy: ["model": try JSONPath(parsing: "$.model")]),
        MeterSpec(slug: "requests", aggregation: .count, eventType: "request"),
        MeterSpec(
            slug: "duration_max", aggregation: .max, eventType: "request",
            valueProperty: try JSONPath(parsing: "$.duration_ms")),
        MeterSpec(
            slug: "active_users", aggregation: .uniqueCount, eventType: "request",
            valueProperty: try JSONPath(parsing: "$.user")),
    ]
    return specs.enumerated().map {
        MeterDefinition(id: "meter-\($0.offset)", spec: $0.element, createdAt: Timestamp(micros: 0))
    }
}

/// Runs `stage` `rounds` times over a 100-event batch and prints the mean cost per event.
func measure(_ name: String, rounds: Int, _ stage: () throws -> Int) rethrows {
    var checksum = 0
    let start = ContinuousClock.now
    for _ in 0..<rounds { checksum &+= try stage() }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(
        String(format: "%@_us_per_event=%.2f", name, seconds * 1e6 / Double(rounds * 100))
            + (checksum == 0 ? " (empty)" : ""))
}

let rounds = 3000
let batch = makeBatch()
let meters = try makeMeters()
let (document, texts) = try JSONParser.parseWithTexts(batch)
let events = try EventBatch.validate(
    document, texts: texts, now: Timestamp(micros: 0), allowSingle: true, allowArray: true,
    maxBatchEvents: 100
).get()
try measure("parse", rounds: rounds) { try JSONParser.parseWithTexts(batch).texts.count }
try measure("validate", rounds: rounds) {
    try EventBatch.validate(
        document, texts: texts, now: Timestamp(micros: 0), allowSingle: true, allowArray: true, maxBatchEvents: 100
    ).get().count
}
measure("sample_4_meters", rounds: rounds) {
    var samples = 0
    for event in events {
        for meter in meters where meter.matches(event) {
            if case .success = meter.sample(event) { samples += 1 }
        }
    }
    return samples
}
