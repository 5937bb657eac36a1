import Foundation

/// An opaque identifier (subject, source, event id, event type, group value, distinct value) compared,
/// ordered and hashed by its exact UTF-8 bytes.
///
/// Swift's `String` equality and hashing use Unicode canonical equivalence, so `"\u{e9}"` and
/// `"e\u{301}"` are one `String` key although they are two customers. Every in-memory map, set and
/// sort of identifiers goes through this type; SQLite already compares TEXT by bytes.
public struct Identifier: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral text: String) { self.text = text }

    public var description: String { text }

    public static func == (lhs: Identifier, rhs: Identifier) -> Bool { lhs.text.bytesEqual(rhs.text) }

    public static func < (lhs: Identifier, rhs: Identifier) -> Bool { lhs.text.bytesPrecede(rhs.text) }

    public func hash(into hasher: inout Hasher) {
        var copy = text
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        hasher.combine(text.utf8.count)
    }
}

extension String {
    /// Whether both strings hold the same UTF-8 bytes (no Unicode normalization). One `memcmp` for native strings:
    /// it runs for every member lookup of every ingested event.
    public func bytesEqual(_ other: String) -> Bool {
        let (lhs, rhs) = (utf8, other.utf8)
        guard lhs.count == rhs.count else { return false }
        let compared = lhs.withContiguousStorageIfAvailable { left in
            rhs.withContiguousStorageIfAvailable { right in
                left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
            }
        }
        return (compared ?? nil) ?? lhs.elementsEqual(rhs)
    }

    /// Whether this string's UTF-8 bytes sort before `other`'s (the order SQLite uses for TEXT).
    public func bytesPrecede(_ other: String) -> Bool {
        let (lhs, rhs) = (utf8, other.utf8)
        let compared = lhs.withContiguousStorageIfAvailable { left in
            rhs.withContiguousStorageIfAvailable { right -> Bool in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
        return (compared ?? nil) ?? lhs.lexicographicallyPrecedes(rhs)
    }
}

extension Optional where Wrapped == Identifier {
    /// Byte order with nil first: the order of query rows without a subject or a group value.
    public static func precedes(_ lhs: Identifier?, _ rhs: Identifier?) -> Bool {
        switch (lhs, rhs) {
        case (nil, nil): false
        case (nil, _): true
        case (_, nil): false
        case (let left?, let right?): left < right
        }
    }
}
