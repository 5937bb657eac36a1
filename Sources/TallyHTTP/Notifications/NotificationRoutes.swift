import Hummingbird
import HummingbirdCore
import TallyConfiguration
import TallyCore
import TallyStore

/// OpenMeter's notification API, written once over a `NotificationBackend`: webhook channels, rules (balance
/// thresholds and resets), and the events with their deliveries.
public struct NotificationRoutes<Backend: NotificationBackend>: Sendable {
    let backend: Backend
    let limits: APILimits

    public init(backend: Backend, limits: APILimits) {
        self.backend = backend
        self.limits = limits
    }

    public func register(on router: Router<BasicRequestContext>) {
        registerChannels(on: router)
        registerRules(on: router)
        registerEvents(on: router)
    }

    private func registerChannels(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/notification/channels") { request, _ -> Response in
            let spec = try await channelSpec(request)
            return Response.json(try await backend.createChannel(spec).json, status: .created)
        }
        router.get("/api/v1/notification/channels") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let includeDeleted = try RouteParameters.flag(parameters, "includeDeleted") ?? false
            let includeDisabled = try RouteParameters.flag(parameters, "includeDisabled") ?? false
            var channels = try await backend.channels().filter {
                (includeDeleted || $0.deletedAt == nil) && (includeDisabled || !$0.spec.disabled)
            }
            if try LegacyPaging.descending(parameters) { channels.reverse() }
            return try RouteParameters.page(channels.map(\.json), parameters)
        }
        router.get("/api/v1/notification/channels/:channel") { _, context -> Response in
            Response.json(try await channel(context).json)
        }
        router.put("/api/v1/notification/channels/:channel") { request, context -> Response in
            let id = try await channel(context).id
            let spec = try await channelSpec(request)
            return Response.json(try await backend.updateChannel(id: id, spec).json)
        }
        router.delete("/api/v1/notification/channels/:channel") { _, context -> Response in
            try await backend.deleteChannel(id: try await channel(context).id)
            return Response(status: .noContent)
        }
    }

    private func registerRules(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/notification/rules") { request, _ -> Response in
            let spec = try await ruleSpec(request)
            return Response.json(try await backend.saveRule(spec, replacing: nil).json, status: .created)
        }
        router.get("/api/v1/notification/rules") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let includeDeleted = try RouteParameters.flag(parameters, "includeDeleted") ?? false
            let includeDisabled = try RouteParameters.flag(parameters, "includeDisabled") ?? false
            let features = Set(parameters.getAll("feature").map { String($0) })
            let channels = Set(parameters.getAll("channel").map { String($0) })
            var rules = try await backend.rules().filter { rule in
                (includeDeleted || rule.deletedAt == nil) && (includeDisabled || !rule.spec.disabled)
                    && (features.isEmpty || !features.isDisjoint(with: rule.spec.features))
                    && (channels.isEmpty || !channels.isDisjoint(with: rule.spec.channels))
            }
            if try LegacyPaging.descending(parameters) { rules.reverse() }
            return try RouteParameters.page(rules.map(\.json), parameters)
        }
        router.get("/api/v1/notification/rules/:rule") { _, context -> Response in
            Response.json(try await rule(context).json)
        }
        router.put("/api/v1/notification/rules/:rule") { request, context -> Response in
            let id = try await rule(context).id
            let spec = try await ruleSpec(request)
            return Response.json(try await backend.saveRule(spec, replacing: id).json)
        }
        router.delete("/api/v1/notification/rules/:rule") { _, context -> Response in
            try await backend.deleteRule(id: try await rule(context).id)
            return Response(status: .noContent)
        }
        router.post("/api/v1/notification/rules/:rule/test") { _, context -> Response in
            let rule = try await rule(context)
            return Response.json(try await backend.testRule(rule).json(rule: rule.json), status: .created)
        }
    }

    private func registerEvents(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/notification/events") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            func time(_ name: String) throws -> Timestamp? {
                guard let text = parameters[Substring(name)] else { return nil }
                guard let parsed = Timestamp(rfc3339: text) else {
                    throw Problem.invalidField(name, "must be an RFC 3339 date-time within years 0001–9999")
                }
                return parsed
            }
            let (from, to) = (try time("from"), try time("to"))
            let features = Set(parameters.getAll("feature").map { String($0) })
            let subjects = Set(parameters.getAll("subject").map { String($0) })
            let ruleIDs = Set(parameters.getAll("rule").map { String($0) })
            let channelIDs = Set(parameters.getAll("channel").map { String($0) })
            var events = try await backend.notifications().filter { event in
                (from.map { event.createdAt >= $0 } ?? true) && (to.map { event.createdAt <= $0 } ?? true)
                    && (features.isEmpty || features.contains(event.featureKey))
                    && (subjects.isEmpty || subjects.contains(event.customer))
                    && (ruleIDs.isEmpty || ruleIDs.contains(event.ruleID))
                    && (channelIDs.isEmpty || event.deliveries.contains { channelIDs.contains($0.channelID) })
            }
            // Newest first unless `order=ASC` (upstream's code; its spec says ascending).
            if parameters["order"] != "ASC" {
                _ = try LegacyPaging.descending(parameters)
                events.reverse()
            }
            let rules = Dictionary(uniqueKeysWithValues: try await backend.rules().map { ($0.id, $0.json) })
            return try RouteParameters.page(
                events.map { $0.json(rule: rules[$0.ruleID] ?? .null) }, parameters)
        }
        router.get("/api/v1/notification/events/:event") { _, context -> Response in
            let event = try await event(context)
            let rule = try await backend.rules().first { $0.id == event.ruleID }
            return Response.json(event.json(rule: rule?.json ?? .null))
        }
        router.post("/api/v1/notification/events/:event/resend") { request, context -> Response in
            let event = try await event(context)
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            var channels: [String] = []
            switch body["channels"] {
            case nil, .null?: break
            case .array(let items)?:
                channels = items.compactMap(\.stringValue)
                guard channels.count == items.count else { throw Problem.invalidField("channels", "must be strings") }
            default: throw Problem.invalidField("channels", "must be an array of channel ids")
            }
            try await backend.resend(id: event.id, channels: channels)
            return Response(status: .accepted)
        }
    }

    private func channel(_ context: BasicRequestContext) async throws -> NotificationChannel {
        let id = try RouteParameters.parameter(context, "channel")
        guard let found = try await backend.channels().first(where: { $0.id == id }) else {
            throw NotificationStoreError.channelNotFound(id)
        }
        return found
    }

    private func rule(_ context: BasicRequestContext) async throws -> NotificationRule {
        let id = try RouteParameters.parameter(context, "rule")
        guard let found = try await backend.rules().first(where: { $0.id == id }) else {
            throw NotificationStoreError.ruleNotFound(id)
        }
        return found
    }

    private func event(_ context: BasicRequestContext) async throws -> NotificationEvent {
        let id = try RouteParameters.parameter(context, "event")
        guard let found = try await backend.notification(id: id) else {
            throw NotificationStoreError.eventNotFound(id)
        }
        return found
    }

    private func channelSpec(_ request: Request) async throws -> ChannelSpec {
        switch ChannelSpec.parse(try await request.jsonBody(maxBytes: limits.maxBodyBytes)) {
        case .failure(let failure): throw Problem.invalid("the channel is invalid", failure.errors)
        case .success(let spec): return spec
        }
    }

    private func ruleSpec(_ request: Request) async throws -> RuleSpec {
        switch RuleSpec.parse(try await request.jsonBody(maxBytes: limits.maxBodyBytes)) {
        case .failure(let failure): throw Problem.invalid("the rule is invalid", failure.errors)
        case .success(let spec): return spec
        }
    }
}

extension NotificationStoreError: ProblemRepresentable {
    public var problem: Problem {
        switch self {
        case .channelNotFound(let id):
            Problem(
                .notFound, type: "urn:tally:problem:channel-not-found", detail: "no channel \"\(id.echoed)\"",
                errors: [FieldError(field: "channelId", reason: "no such channel")])
        case .channelInUse(let rule):
            Problem.invalidField("channelId", "rule \(rule) still notifies this channel")
        case .ruleNotFound(let id):
            Problem(
                .notFound, type: "urn:tally:problem:rule-not-found", detail: "no rule \"\(id.echoed)\"",
                errors: [FieldError(field: "ruleId", reason: "no such rule")])
        case .ruleDeleted(let id):
            Problem(
                .conflict, type: "urn:tally:problem:rule-deleted", detail: "rule \(id.echoed) is deleted",
                errors: [FieldError(field: "ruleId", reason: "a deleted rule cannot change")])
        case .eventNotFound(let id):
            Problem(
                .notFound, type: "urn:tally:problem:notification-event-not-found",
                detail: "no notification event \"\(id.echoed)\"",
                errors: [FieldError(field: "eventId", reason: "no such event")])
        case .invalid(let field, let reason):
            Problem.invalidField(field, reason)
        }
    }
}
