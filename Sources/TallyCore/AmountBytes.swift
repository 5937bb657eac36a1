/// A 16-byte big-endian encoding of `Amount` whose byte order equals numeric order.
///
/// SQLite compares BLOBs with `memcmp`, so `min()`/`max()` over these blobs are numeric min/max.
extension Amount {
    /// The order-preserving bytes: the two's-complement value with its sign bit flipped, big-endian.
    public var sortableBytes: [UInt8] {
        withUnsafeBytes(of: sortableBigEndian) { Array($0) }
    }

    /// `sortableBytes` without an allocation: the integer whose in-memory bytes they are.
    public var sortableBigEndian: UInt128 {
        (UInt128(bitPattern: units) ^ (UInt128(1) << 127)).bigEndian
    }

    /// Decodes `sortableBytes`; nil unless exactly 16 bytes are given.
    public init?(sortableBytes bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var flipped: UInt128 = 0
        for byte in bytes { flipped = (flipped << 8) | UInt128(byte) }
        self.units = Int128(bitPattern: flipped ^ (UInt128(1) << 127))
    }
}
