import Hummingbird
import TallyCore
import TallyHTTP
import TallyStore

/// Meter CRUD at the coordinator: definitions are stored with a catalog version, then pushed to every worker.
struct CoordinatorMeterRoutes {
    let coordinator: Coordinator
    let limits: APILimits

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/v1/meters") { request, _ -> Response in
            Response.json(.array(try MeterListing.page(of: coordinator.state.snapshot.meters, request.uri.queryParameters).map(\.json)))
        }
        router.post("/api/v1/meters") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch MeterSpec.parse(body) {
            case .failure(let failure): throw Problem.invalid("the meter is invalid", failure.errors)
            case .success(let spec):
                let now = Timestamp.now
                let meter = MeterDefinition(id: ULID.make(time: now), spec: spec, createdAt: now)
                return Response.json(try await publish(meter).json, status: .created)
            }
        }
        router.get("/api/v1/meters/:meter") { _, context -> Response in
            Response.json(try CoordinatorMeterRoutes.meter(context, coordinator).json)
        }
        router.put("/api/v1/meters/:meter") { request, context -> Response in
            let current = try CoordinatorMeterRoutes.meter(context, coordinator)
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            switch MeterUpdate.parse(body, current: current) {
            case .failure(let failure): throw Problem.invalid("the meter update is invalid", failure.errors)
            case .success(let update): return Response.json(try await publish(update.applied(to: current, now: .now)).json)
            }
        }
        router.delete("/api/v1/meters/:meter") { _, context -> Response in
            var deleted = try CoordinatorMeterRoutes.meter(context, coordinator)
            deleted.deletedAt = .now
            _ = try await publish(deleted)
            return Response(status: .noContent)
        }
    }

    /// The live meter named by the `:meter` path parameter, or a 404 problem.
    static func meter(_ context: BasicRequestContext, _ coordinator: Coordinator) throws -> MeterDefinition {
        let idOrSlug = context.parameters.get("meter") ?? ""
        guard let meter = coordinator.state.snapshot.liveMeter(idOrSlug) else { throw Problem.meterNotFound(idOrSlug) }
        return meter
    }

    /// Stores the change durably, then pushes the catalog to the workers (those down catch up later).
    private func publish(_ meter: MeterDefinition) async throws -> MeterDefinition {
        _ = try await coordinator.state.put(meter)
        await coordinator.pushAll()
        return meter
    }
}
