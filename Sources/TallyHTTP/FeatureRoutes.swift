import Hummingbird
import TallyConfiguration
import TallyCore
import TallyStore

/// What the feature routes run on: a node's shard store (`LocalBackend`) or a cluster's catalog (`ClusterBackend`).
public protocol FeatureBackend: Sendable {
    func createFeature(_ spec: FeatureSpec) async throws -> Feature
    func features(includeArchived: Bool) async throws -> [Feature]
    /// The feature with this id (archived too when asked) or the live one with this key.
    func feature(idOrKey: String, includeArchived: Bool) async throws -> Feature?
    func archiveFeature(idOrKey: String) async throws
}

/// OpenMeter's `/api/v1/features`, written once over a `FeatureBackend`: create (201), list (both pagination
/// styles, `meterSlug` filter, `orderBy`, `includeArchived`), get by id or key, archive.
public struct FeatureRoutes<Backend: FeatureBackend>: Sendable {
    let backend: Backend
    let limits: APILimits

    public init(backend: Backend, limits: APILimits) {
        self.backend = backend
        self.limits = limits
    }

    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.post("/api/v1/features") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch FeatureSpec.parse(body) {
            case .failure(let failure): throw Problem.invalid("the feature is invalid", failure.errors)
            case .success(let spec): return Response.json(try await backend.createFeature(spec).json, status: .created)
            }
        }
        router.get("/api/v1/features") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let includeArchived = try RouteParameters.flag(parameters, "includeArchived")
            let slugs = Set(parameters.getAll("meterSlug").map { String($0) })
            var features = try await backend.features(includeArchived: includeArchived ?? false)
                .filter { slugs.isEmpty || $0.spec.meterSlug.map(slugs.contains) == true }
            let orders: [String: (Feature, Feature) -> Bool] = [
                "id": { $0.id < $1.id }, "key": { ($0.key, $0.id) < ($1.key, $1.id) },
                "name": { ($0.spec.name, $0.id) < ($1.spec.name, $1.id) },
                "createdAt": { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) },
                "updatedAt": { ($0.updatedAt, $0.id) < ($1.updatedAt, $1.id) },
            ]
            let orderBy = parameters["orderBy"].map(String.init) ?? "updatedAt"
            guard let order = orders[orderBy] else {
                throw Problem.invalidField("orderBy", "must be one of id, key, name, createdAt, updatedAt")
            }
            features.sort(by: order)
            if try LegacyPaging.descending(parameters) { features.reverse() }
            return try LegacyPaging.response(features.map(\.json), parameters)
        }
        router.get("/api/v1/features/:feature") { _, context -> Response in
            let idOrKey = try RouteParameters.parameter(context, "feature")
            guard let feature = try await backend.feature(idOrKey: idOrKey, includeArchived: false) else {
                throw EntitlementStoreError.featureNotFound(idOrKey)
            }
            return Response.json(feature.json)
        }
        router.delete("/api/v1/features/:feature") { _, context -> Response in
            try await backend.archiveFeature(idOrKey: try RouteParameters.parameter(context, "feature"))
            return Response(status: .noContent)
        }
    }
}
