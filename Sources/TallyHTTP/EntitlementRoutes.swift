import Foundation
import Hummingbird
import HummingbirdCore
import TallyConfiguration
import TallyCore
import TallyStore

/// The OpenMeter-compatible entitlements and grants API, written once over an `EntitlementBackend`: the v1
/// subject-scoped and v2 customer-scoped entitlement routes, the admin lists and the customer value routes (features
/// are `FeatureRoutes`).
public struct EntitlementRoutes<Backend: EntitlementBackend>: Sendable {
    let backend: Backend
    let limits: APILimits

    public init(backend: Backend, limits: APILimits) {
        self.backend = backend
        self.limits = limits
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        registerScoped(on: router, base: "/api/v1/subjects/:customer/entitlements", version: .v1)
        registerScoped(on: router, base: "/api/v2/customers/:customer/entitlements", version: .v2)
        registerAdmin(on: router)
    }

    private func registerScoped<Context: RequestContext>(on router: Router<Context>, base: String, version: APIVersion)
    {
        let item = RouterPath(stringLiteral: base + "/:entitlement")
        router.post(RouterPath(stringLiteral: base)) { request, context -> Response in
            let customer = try await ownerKey(context, version: version)
            let spec = try await entitlementSpec(request)
            let state = try await backend.createEntitlement(customer: customer, spec, replacing: nil)
            return Response.json(state.entitlement.json(resets: state.resets, now: .now), status: .created)
        }
        router.get(RouterPath(stringLiteral: base)) { request, context -> Response in
            let customer = try await ownerKey(context, version: version)
            let parameters = request.uri.queryParameters
            let includeDeleted = try RouteParameters.flag(parameters, "includeDeleted") ?? false
            let now = Timestamp.now
            let states = try await backend.entitlementStates(customer: customer).filter {
                includeDeleted ? true : $0.entitlement.isActive(at: now)
            }
            let items = states.map { $0.entitlement.json(resets: $0.resets, now: now) }
            if version == .v2 { return try RouteParameters.page(items, parameters) }
            return Response.json(.array(items))
        }
        router.get(item) { _, context -> Response in
            let state = try await scopedState(context, version: version, byFeatureKey: version == .v2, at: .now)
            return Response.json(state.entitlement.json(resets: state.resets, now: .now))
        }
        router.delete(item) { _, context -> Response in
            let state = try await scopedState(context, version: version, byFeatureKey: version == .v2, at: .now)
            try await backend.deleteEntitlement(id: state.entitlement.id)
            return Response(status: .noContent)
        }
        router.put(RouterPath(stringLiteral: base + "/:entitlement/override")) { request, context -> Response in
            let customer = try await ownerKey(context, version: version)
            let old = try await scopedState(context, version: version, byFeatureKey: true, at: .now)
            let spec = try await entitlementSpec(request)
            let state = try await backend.createEntitlement(
                customer: customer, spec, replacing: old.entitlement.id)
            return Response.json(state.entitlement.json(resets: state.resets, now: .now), status: .created)
        }
        registerGrants(on: router, base: base, version: version)
        router.get(RouterPath(stringLiteral: base + "/:entitlement/value")) { request, context -> Response in
            let instant = try RouteParameters.time(request.uri.queryParameters["time"])
            let customer = try await ownerKey(context, version: version)
            let idOrKey = try RouteParameters.parameter(context, "entitlement")
            guard
                let state = try await backend.entitlementState(customer: customer, idOrFeatureKey: idOrKey, at: instant)
            else {
                if version == .v2 { return Response.json(.object(["hasAccess": .bool(false)])) }
                throw EntitlementStoreError.entitlementNotFound(idOrKey)
            }
            return Response.json(try await value(state, at: instant, version: version))
        }
        router.get(RouterPath(stringLiteral: base + "/:entitlement/history")) { request, context -> Response in
            let state = try await scopedState(context, version: version, byFeatureKey: version == .v2, at: .now)
            return Response.json(try await history(state, request.uri.queryParameters).json)
        }
        router.post(RouterPath(stringLiteral: base + "/:entitlement/reset")) { request, context -> Response in
            let state = try await scopedState(context, version: version, byFeatureKey: version == .v2, at: .now)
            try await reset(state, request)
            return Response(status: .noContent)
        }
    }

    private func registerGrants<Context: RequestContext>(on router: Router<Context>, base: String, version: APIVersion)
    {
        let grants = RouterPath(stringLiteral: base + "/:entitlement/grants")
        router.post(grants) { request, context -> Response in
            let state = try await scopedState(context, version: version, byFeatureKey: true, at: .now)
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch GrantSpec.parse(body, version: version) {
            case .failure(let failure): throw Problem.invalid("the grant is invalid", failure.errors)
            case .success(let spec):
                let record = try await backend.createGrant(entitlementID: state.entitlement.id, spec)
                return Response.json(record.json(now: .now), status: .created)
            }
        }
        router.get(grants) { request, context -> Response in
            let state = try await scopedState(context, version: version, byFeatureKey: true, at: .now)
            let parameters = request.uri.queryParameters
            let now = Timestamp.now
            let items = state.grants.prefix(LegacyPaging.maxPageSize).map { $0.json(now: now) }
            if version == .v2 { return try RouteParameters.page(Array(items), parameters) }
            return Response.json(.array(Array(items)))
        }
    }

    private func registerAdmin<Context: RequestContext>(on router: Router<Context>) {
        router.get("/api/v1/entitlements") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let features = Set(parameters.getAll("feature").map { String($0) })
            let subjects = Set(parameters.getAll("subject").map { String($0) })
            let types = Set(parameters.getAll("entitlementType").map { String($0) })
            let excludeInactive = try RouteParameters.flag(parameters, "excludeInactive") ?? false
            let now = Timestamp.now
            var states = try await backend.entitlementStates(customer: nil).filter { state in
                let entitlement = state.entitlement
                return
                    (features.isEmpty || features.contains(entitlement.featureKey)
                    || features.contains(entitlement.featureID))
                    && (subjects.isEmpty || subjects.contains(entitlement.customer))
                    && (types.isEmpty || types.contains(entitlement.kind.name))
                    && (!excludeInactive || entitlement.isActive(at: now))
            }
            if try LegacyPaging.descending(parameters) { states.reverse() }
            return try LegacyPaging.response(
                states.map { $0.entitlement.json(resets: $0.resets, now: now) }, parameters)
        }
        router.get("/api/v1/entitlements/:entitlement") { _, context -> Response in
            let id = try RouteParameters.parameter(context, "entitlement")
            guard let state = try await backend.entitlementState(id: id) else {
                throw EntitlementStoreError.entitlementNotFound(id)
            }
            return Response.json(state.entitlement.json(resets: state.resets, now: .now))
        }
        router.get("/api/v1/grants") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let features = Set(parameters.getAll("feature").map { String($0) })
            let subjects = Set(parameters.getAll("subject").map { String($0) })
            let includeDeleted = try RouteParameters.flag(parameters, "includeDeleted") ?? false
            let featureOf = Dictionary(
                try await backend.entitlementStates(customer: nil).map {
                    ($0.entitlement.id, [$0.entitlement.featureKey, $0.entitlement.featureID])
                }, uniquingKeysWith: { first, _ in first })
            let now = Timestamp.now
            var grants = try await backend.grants(customer: nil).filter { record in
                (features.isEmpty || !(featureOf[record.entitlementID] ?? []).allSatisfy { !features.contains($0) })
                    && (subjects.isEmpty || subjects.contains(record.customer))
                    && (includeDeleted || record.grant.deletedAt == nil)
            }
            grants.sort { ($0.grant.effectiveAt, $0.grant.id) < ($1.grant.effectiveAt, $1.grant.id) }
            if try LegacyPaging.descending(parameters) { grants.reverse() }
            return try LegacyPaging.response(grants.map { $0.json(now: now) }, parameters)
        }
        router.delete("/api/v1/grants/:grant") { request, context -> Response in
            let at = try RouteParameters.time(request.uri.queryParameters["at"], rounding: .down)
            try await backend.voidGrant(id: try RouteParameters.parameter(context, "grant"), at: at)
            return Response(status: .noContent)
        }
        router.get("/api/v1/customers/:customer/access") { _, context -> Response in
            let customer = try await backend.owner(customerIDOrKey: try RouteParameters.customer(context)).key
            let instant = Timestamp.now.minuteCeiling
            var entitlements: JSONObject = [:]
            for state in try await backend.entitlementStates(customer: customer)
            where state.entitlement.isActive(at: instant) {
                entitlements[state.entitlement.featureKey] = try await value(state, at: instant, version: .v1)
            }
            return Response.json(.object(["entitlements": .object(entitlements)]))
        }
        router.get("/api/v1/customers/:customer/entitlements/:entitlement/value") { request, context -> Response in
            let instant = try RouteParameters.time(request.uri.queryParameters["time"])
            let customer = try await backend.owner(customerIDOrKey: try RouteParameters.customer(context)).key
            let key = try RouteParameters.parameter(context, "entitlement")
            guard let state = try await backend.entitlementState(customer: customer, idOrFeatureKey: key, at: instant)
            else { return Response.json(.object(["hasAccess": .bool(false)])) }
            return Response.json(try await value(state, at: instant, version: .v1))
        }
    }

    /// The value of an entitlement at `instant`: `{"hasAccess": false}` outside its active time.
    private func value(
        _ state: EntitlementState, at instant: Timestamp, version: APIVersion
    ) async throws
        -> JSONValue
    {
        guard state.entitlement.isActive(at: instant) else { return .object(["hasAccess": .bool(false)]) }
        switch state.entitlement.kind {
        case .boolean: return .object(["hasAccess": .bool(true)])
        case .staticConfig(let config): return .object(["hasAccess": .bool(true), "config": .string(config)])
        case .metered: return try await backend.meteredValue(state, at: instant).json(version: version)
        }
    }

    /// Most windows one history request may ask for.
    public static var maxHistoryWindows: Int { 5_000 }

    private func history(
        _ state: EntitlementState, _ parameters: FlatDictionary<Substring, Substring>
    ) async throws
        -> BalanceHistory
    {
        guard let terms = state.entitlement.meteredTerms else {
            throw Problem.invalidField("entitlementId", "only metered entitlements have a balance history")
        }
        guard let sizeText = parameters["windowSize"] else { throw Problem.invalidField("windowSize", "is required") }
        guard let size = WindowSize(rawValue: String(sizeText)) else {
            throw Problem.invalidField("windowSize", "must be MINUTE, HOUR, DAY or MONTH")
        }
        let zone = parameters["windowTimeZone"].map(String.init) ?? "UTC"
        guard zone.utf8.count <= MeterQuery.maxTimeZoneBytes, let calendar = WindowCalendar(timeZoneIdentifier: zone)
        else { throw Problem.invalidField("windowTimeZone", "must be an IANA time zone name") }
        func instant(_ name: String) throws -> Timestamp? {
            guard let text = parameters[Substring(name)] else { return nil }
            guard let parsed = Timestamp(rfc3339: text) else {
                throw Problem.invalidField(name, "must be an RFC 3339 date-time within years 0001–9999")
            }
            return parsed
        }
        let from = (try instant("from") ?? state.resets.last?.at ?? terms.measureUsageFrom).minuteFloor
        let to = (try instant("to") ?? .now).minuteCeiling
        if from < terms.measureUsageFrom {
            throw Problem.invalidField("from", "must not be before measureUsageFrom \(terms.measureUsageFrom)")
        }
        guard from < to else { throw Problem.invalidField("from", "must be before to") }
        guard size.minimumWindows(from: from, to: to) < Int64(Self.maxHistoryWindows) else {
            throw Problem.invalidField(
                "windowSize", "gives more than \(Self.maxHistoryWindows) windows; use a larger one")
        }
        var windows: [TimePeriod] = []
        var window = calendar.window(size, containing: from)
        while window.start < to {
            guard windows.count < Self.maxHistoryWindows else {
                throw Problem.invalidField(
                    "windowSize", "gives more than \(Self.maxHistoryWindows) windows; use a larger one")
            }
            windows.append(TimePeriod(from: max(window.start, from), to: window.end))
            window = calendar.window(size, containing: window.end)
        }
        return try await backend.balanceHistory(state, from: from, to: to, windows: windows)
    }

    private func reset(_ state: EntitlementState, _ request: Request) async throws {
        let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
        guard case .object(let members) = body else { throw Problem.invalidField("body", "must be a JSON object") }
        let now = Timestamp.now
        var requested = now
        if let value = members["effectiveAt"], value != .null {
            guard let text = value.stringValue, let time = Timestamp(rfc3339: text) else {
                throw Problem.invalidField("effectiveAt", "must be an RFC 3339 date-time")
            }
            requested = time
        }
        func flag(_ name: String) throws -> Bool? {
            switch members[name] {
            case nil, .null: nil
            case .bool(let value): value
            default: throw Problem.invalidField(name, "must be a boolean")
            }
        }
        let at = requested.minuteFloor
        if let refusal = EntitlementRules.resetRefusal(
            at: at, requested: requested, entitlement: state.entitlement, resets: state.resets, now: now)
        {
            throw Problem.invalidField(refusal.field, refusal.reason)
        }
        try await backend.reset(
            state, at: at, requested: requested, retainAnchor: try flag("retainAnchor") ?? false,
            preserveOverage: try flag("preserveOverage") ?? state.entitlement.meteredTerms?.preserveOverageAtReset
                ?? false)
    }

    private func entitlementSpec(_ request: Request) async throws -> EntitlementSpec {
        let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
        switch EntitlementSpec.parse(body, now: .now) {
        case .failure(let failure): throw Problem.invalid("the entitlement is invalid", failure.errors)
        case .success(let spec): return spec
        }
    }

    /// The owner key a scoped route acts for: v1 resolves its subject key, v2 its customer id or key.
    private func ownerKey(_ context: some RequestContext, version: APIVersion) async throws -> String {
        let key = try RouteParameters.customer(context)
        return switch version {
        case .v1: try await backend.owner(subjectKey: key).key
        case .v2: try await backend.owner(customerIDOrKey: key).key
        }
    }

    /// The entitlement of a scoped route: by id, or (`byFeatureKey`) by the owner's feature key active at `instant`.
    private func scopedState(
        _ context: some RequestContext, version: APIVersion, byFeatureKey: Bool, at instant: Timestamp
    )
        async throws -> EntitlementState
    {
        let idOrKey = try RouteParameters.parameter(context, "entitlement")
        let found =
            byFeatureKey
            ? try await backend.entitlementState(
                customer: try await ownerKey(context, version: version), idOrFeatureKey: idOrKey, at: instant)
            : try await backend.entitlementState(id: idOrKey)
        guard let found else { throw EntitlementStoreError.entitlementNotFound(idOrKey) }
        return found
    }
}
