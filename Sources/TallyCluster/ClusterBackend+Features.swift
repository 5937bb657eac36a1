import TallyCore
import TallyHTTP
import TallyStore

/// Features are cluster-wide catalog data: the coordinator checks and stores them and pushes them to every worker
/// with the meters, under the same catalog version.
extension ClusterBackend: FeatureBackend {
    public func createFeature(_ spec: FeatureSpec) async throws -> Feature {
        let snapshot = coordinator.state.snapshot
        try spec.check(meter: spec.meterSlug.flatMap(snapshot.liveMeter))
        if snapshot.liveFeature(spec.key) != nil { throw EntitlementStoreError.featureKeyTaken(spec.key) }
        let now = Timestamp.now
        return try await publish(Feature(id: ULID.make(time: now), spec: spec, createdAt: now))
    }

    public func features(includeArchived: Bool) async throws -> [Feature] {
        coordinator.state.snapshot.features.filter { includeArchived || $0.archivedAt == nil }
    }

    public func feature(idOrKey: String, includeArchived: Bool) async throws -> Feature? {
        let features = coordinator.state.snapshot.features
        return features.first { $0.id == idOrKey && (includeArchived || $0.archivedAt == nil) }
            ?? features.first { $0.key == idOrKey && $0.archivedAt == nil }
    }

    public func archiveFeature(idOrKey: String) async throws {
        guard var feature = coordinator.state.snapshot.liveFeature(idOrKey) else {
            throw EntitlementStoreError.featureNotFound(idOrKey)
        }
        let now = Timestamp.now
        feature.archivedAt = now
        feature.updatedAt = now
        _ = try await publish(feature)
    }

    /// Stores the change durably, then pushes the catalog to the workers (those down catch up at their next probe).
    private func publish(_ feature: Feature) async throws -> Feature {
        _ = try await coordinator.state.put(feature)
        await coordinator.pushAll()
        return feature
    }
}
