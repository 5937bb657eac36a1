/// ULIDs (26 characters, Crockford base32): 48 bits of milliseconds then 80 random bits.
public enum ULID {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A ULID for `time` drawing its random part from `generator`.
    public static func make(time: Timestamp, using generator: inout some RandomNumberGenerator) -> String {
        let millis = UInt128(UInt64(max(0, time.micros / 1000)) & 0xFFFF_FFFF_FFFF)
        let random = UInt128(generator.next() as UInt64) << 16 | UInt128(generator.next() as UInt16)
        let value = millis << 80 | (random & ((UInt128(1) << 80) - 1))
        return String(decoding: (0..<26).map { alphabet[Int((value >> (5 * (25 - $0))) & 0x1F)] }, as: UTF8.self)
    }

    /// A ULID for `time` from the system random source.
    public static func make(time: Timestamp) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(time: time, using: &generator)
    }

    /// Whether `text` has the ULID shape `^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$`.
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.uppercased().utf8)
        guard bytes.count == 26, let first = bytes.first, (48...55).contains(first) else { return false }
        return bytes.allSatisfy { alphabet.contains($0) }
    }
}
