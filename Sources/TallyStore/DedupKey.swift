import TallyCore

/// How de-duplication keys are hashed. Production uses 128 bits; a test injects a weak hash to force collisions and
/// prove that a colliding key never drops or double counts an event.
public enum DedupHash: Sendable, Hashable {
    /// XXH64 of the key's bytes with seed 0, then with seed 1: 128 bits.
    case xxh64Pair
    /// The first `bits` bits of `xxh64Pair`, the rest zero (tests only: with 4 bits, every 16th event collides).
    case truncated(bits: Int)
}

/// The fixed-width de-dup key of an event: 16 bytes of hash over its source, id and customer, each prefixed by its
/// UTF-8 length so no two triples share an input. The index holds these 16 bytes instead of three strings (about
/// 70 bytes); a hit is checked against the stored event, so a collision never drops an event.
struct DedupKey: Sendable, Hashable {
    static let byteCount = 16
    let bytes: [UInt8]

    init(source: String, id: String, subject: String, hash: DedupHash) {
        var input: [UInt8] = []
        input.reserveCapacity(source.utf8.count + id.utf8.count + subject.utf8.count + 24)
        for part in [source, id, subject] {
            input.append(contentsOf: String(part.utf8.count).utf8)
            input.append(0x3A)
            input.append(contentsOf: part.utf8)
        }
        let (first, second) = input.withUnsafeBytes { raw in
            (XXHash64.hash(raw, seed: 0), XXHash64.hash(raw, seed: 1))
        }
        var bytes = [UInt8](repeating: 0, count: DedupKey.byteCount)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: first >> (56 - 8 * index))
            bytes[8 + index] = UInt8(truncatingIfNeeded: second >> (56 - 8 * index))
        }
        if case .truncated(let bits) = hash {
            let kept = max(0, min(bits, DedupKey.byteCount * 8))
            for index in 0..<DedupKey.byteCount {
                let bitsHere = max(0, min(8, kept - index * 8))
                bytes[index] &= bitsHere == 8 ? 0xFF : ~(0xFF >> UInt8(bitsHere))
            }
        }
        self.bytes = bytes
    }
}
