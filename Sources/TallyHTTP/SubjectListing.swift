import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import TallyCore
import TallyStore

/// Parameters and rendering of `GET /api/v1/subjects` (upstream `Subject` list): every subject in byte order of its
/// key, read and written `streamPageSize` at a time so no answer holds every customer in memory, or one page of
/// `limit` subjects after the key `after` (Tally's addition), with a `Link: rel="next"` header while more follow.
public enum SubjectListing {
    /// Most subjects one page holds (`limit`).
    public static let maxPageSize = 1000
    /// Subjects read and written per step of the whole list.
    public static let streamPageSize = 1000

    /// Where a page starts and how long it is.
    public struct Page: Sendable, Hashable {
        /// The key the page follows (byte order); nil for the first page.
        public var after: String?
        /// Subjects in the page; nil for the whole list.
        public var limit: Int?
    }

    /// The page named by `after` and `limit`; every invalid parameter is reported.
    public static func page(_ parameters: FlatDictionary<Substring, Substring>) throws -> Page {
        var errors: [FieldError] = []
        var page = Page()
        if let limit = parameters["limit"] {
            if let value = Int(limit), (1...maxPageSize).contains(value) {
                page.limit = value
            } else {
                errors.append(FieldError(field: "limit", reason: "must be an integer from 1 to \(maxPageSize)"))
            }
        }
        if let after = parameters["after"] {
            if after.utf8.count <= InputLimits.maxIdentifierBytes {
                page.after = String(after)
            } else {
                errors.append(
                    FieldError(field: "after", reason: "must be at most \(InputLimits.maxIdentifierBytes) bytes"))
            }
        }
        guard errors.isEmpty else { throw Problem.invalid("invalid subject listing parameters", errors) }
        return page
    }

    /// The answer to `GET /api/v1/subjects`: the first page is read before anything is sent, so a failure to read
    /// it (a worker down) is a problem answer, not a cut body.
    public static func response(
        _ parameters: FlatDictionary<Substring, Substring>, backend: any MeteringBackend
    ) async throws -> Response {
        let page = try page(parameters)
        if let limit = page.limit {
            let subjects = try await backend.subjects(after: page.after, limit: limit)
            var response = Response.json(json(subjects))
            if subjects.count == limit, let last = subjects.last {
                response.headers[HTTPField.Name("Link")!] =
                    "</api/v1/subjects?limit=\(limit)&after=\(EventListing.percentEncoded(last.key))>; rel=\"next\""
            }
            return response
        }
        let first = try await backend.subjects(after: page.after, limit: streamPageSize)
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody { writer in
                var subjects = first
                var opening = "["
                while true {
                    var text = ""
                    for subject in subjects {
                        text += opening + JSONWriter.string(json(subject))
                        opening = ","
                    }
                    try await writer.write(ByteBuffer(string: text))
                    guard subjects.count == streamPageSize, let last = subjects.last else { break }
                    subjects = try await backend.subjects(after: last.key, limit: streamPageSize)
                }
                try await writer.write(ByteBuffer(string: opening == "[" ? "[]" : "]"))
                try await writer.finish(nil)
            })
    }

    /// Subjects as upstream's `Subject` objects.
    public static func json(_ subjects: [SubjectRecord]) -> JSONValue { .array(subjects.map(json)) }

    static func json(_ subject: SubjectRecord) -> JSONValue {
        .object([
            "id": .string(subject.id), "key": .string(subject.key),
            "createdAt": .string(subject.firstSeen.description),
            "updatedAt": .string(subject.firstSeen.description),
        ])
    }
}
