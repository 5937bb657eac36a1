import Hummingbird
import TallyCore

/// An RFC 7807 problem: every error Tally's HTTP API returns is one of these, as `application/problem+json`.
public struct Problem: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    /// A short, stable URN naming the kind of problem.
    public var type: String
    public var detail: String
    /// Per-field reasons, where the problem is about input fields.
    public var errors: [FieldError]
    /// Further members of the problem object (RFC 7807 extension members), such as the parts of a batch.
    public var extensions: JSONObject
    /// Further response headers, such as `Allow` on a 405.
    public var headers: HTTPFields = [:]

    public init(
        _ status: HTTPResponse.Status, type: String, detail: String, errors: [FieldError] = [],
        extensions: JSONObject = [:]
    ) {
        self.status = status
        self.type = type
        self.detail = detail
        self.errors = errors
        self.extensions = extensions
    }

    /// 400 for input that failed validation.
    public static func invalid(_ detail: String, _ errors: [FieldError]) -> Problem {
        Problem(.badRequest, type: "urn:tally:problem:validation", detail: detail, errors: errors)
    }

    /// 400 for one invalid field.
    public static func invalidField(_ field: String, _ reason: String) -> Problem {
        invalid("\(field) \(reason)", [FieldError(field: field, reason: reason)])
    }

    public static func meterNotFound(_ idOrSlug: String) -> Problem {
        Problem(
            .notFound, type: "urn:tally:problem:meter-not-found",
            detail: "no meter with id or slug \"\(idOrSlug.echoed)\"",
            errors: [FieldError(field: "meterIdOrSlug", reason: "no live meter has this id or slug")])
    }

    /// 503 while a meter is back-filled from stored events: its answer would miss events. Carries the share done
    /// (`progress`, 0 to 1) and `Retry-After`; `allowPartial=true` answers from the events counted so far instead.
    public static func meterBuilding(slug: String, progress: Double) -> Problem {
        let percent = Int(progress * 100)
        var problem = Problem(
            .serviceUnavailable, type: meterBuildingType,
            detail: "meter \(slug) is being back-filled from stored events (\(percent)% done); retry shortly, or pass "
                + "allowPartial=true for the events counted so far",
            extensions: [
                "meter": .string(slug), "progress": .number(String((progress * 10_000).rounded() / 10_000)),
            ])
        problem.headers[.retryAfter] = "1"
        return problem
    }

    /// The `type` of `meterBuilding` problems.
    public static let meterBuildingType = "urn:tally:problem:meter-building"

    /// The problem another Tally node answered with (its `type`, `detail`, `errors` and extension members),
    /// answered again as it is; `fallback` is the detail when the answer was not a problem.
    public init(relaying json: JSONValue?, status: Int, fallback: String) {
        let code =
            json?["status"].flatMap { value -> Int? in
                if case .number(let text) = value { Int(text) } else { nil }
            } ?? status
        let errors = (json?["errors"]?.arrayValue ?? []).compactMap { item -> FieldError? in
            guard let field = item["field"]?.stringValue, let reason = item["reason"]?.stringValue else { return nil }
            return FieldError(field: field, reason: reason)
        }
        var extensions: JSONObject = [:]
        for (key, value) in json?.objectValue ?? [:]
        where !["type", "title", "status", "detail", "instance", "errors"].contains(key) {
            extensions[key] = value
        }
        self.init(
            HTTPResponse.Status(code: code), type: json?["type"]?.stringValue ?? "urn:tally:problem:http",
            detail: json?["detail"]?.stringValue ?? fallback,
            errors: errors.isEmpty ? [FieldError(field: "request", reason: fallback)] : errors, extensions: extensions)
    }

    /// The problem+json body for a request to `instance`.
    public func json(instance: String) -> JSONValue {
        var members: JSONObject = [
            "type": .string(type), "title": .string(status.reasonPhrase), "status": .number(String(status.code)),
            "detail": .string(detail), "instance": .string(instance),
        ]
        if !errors.isEmpty {
            members["errors"] = .array(
                errors.map { .object(["field": .string($0.field), "reason": .string($0.reason)]) })
        }
        for (key, value) in extensions { members[key] = value }
        return .object(members)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: JSONWriter.string(json(instance: request.uri.path)))))
    }
}

/// An error of a lower layer that the HTTP layer renders as a problem (the layer itself knows nothing of HTTP).
public protocol ProblemRepresentable: Error {
    var problem: Problem { get }
}
