/// XXH64, the 64-bit xxHash by Yann Collet (specification: github.com/Cyan4973/xxHash, doc/xxhash_spec.md).
/// Tally routes with it because it is fixed, fast and has published test vectors; Swift's `Hasher` is
/// seeded per process and must never decide placement.
public enum XXHash64 {
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    /// The hash of the UTF-8 bytes of `text`.
    public static func hash(_ text: String, seed: UInt64 = 0) -> UInt64 {
        var text = text
        return text.withUTF8 { hash(UnsafeRawBufferPointer($0), seed: seed) }
    }

    /// The hash of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let count = bytes.count
        var offset = 0
        var acc: UInt64
        if count >= 32 {
            var v1 = seed &+ prime1 &+ prime2
            var v2 = seed &+ prime2
            var v3 = seed
            var v4 = seed &- prime1
            while offset + 32 <= count {
                v1 = round(v1, lane(bytes, offset))
                v2 = round(v2, lane(bytes, offset + 8))
                v3 = round(v3, lane(bytes, offset + 16))
                v4 = round(v4, lane(bytes, offset + 24))
                offset += 32
            }
            acc = v1.rotatedLeft(1) &+ v2.rotatedLeft(7) &+ v3.rotatedLeft(12) &+ v4.rotatedLeft(18)
            acc = mergeRound(acc, v1)
            acc = mergeRound(acc, v2)
            acc = mergeRound(acc, v3)
            acc = mergeRound(acc, v4)
        } else {
            acc = seed &+ prime5
        }
        acc = acc &+ UInt64(count)
        while offset + 8 <= count {
            acc ^= round(0, lane(bytes, offset))
            acc = acc.rotatedLeft(27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= count {
            acc ^= UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian) &* prime1
            acc = acc.rotatedLeft(23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < count {
            acc ^= UInt64(bytes[offset]) &* prime5
            acc = acc.rotatedLeft(11) &* prime1
            offset += 1
        }
        acc ^= acc >> 33
        acc = acc &* prime2
        acc ^= acc >> 29
        acc = acc &* prime3
        acc ^= acc >> 32
        return acc
    }

    private static func lane(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian
    }

    private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        (acc &+ input &* prime2).rotatedLeft(31) &* prime1
    }

    private static func mergeRound(_ acc: UInt64, _ value: UInt64) -> UInt64 {
        (acc ^ round(0, value)) &* prime1 &+ prime4
    }
}

extension UInt64 {
    func rotatedLeft(_ bits: UInt64) -> UInt64 { (self << bits) | (self >> (64 - bits)) }
}
