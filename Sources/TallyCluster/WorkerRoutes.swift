import Hummingbird
import TallyCore
import TallyHTTP
import TallyStore

/// The internal API a worker serves to the coordinator over mutual TLS. Every route but the assignment
/// is fenced: it answers only for the worker's epoch and for subjects in its slots. Forwarded ingest
/// requests combine parts of several client batches, so they may be up to `forwardBodyBytesCeiling`.
struct WorkerRoutes {
    let store: ShardStore
    let membership: WorkerMembership
    let limits: APILimits

    func register(on router: Router<BasicRequestContext>) {
        router.get("/internal/v1/assignment") { _, _ -> Response in
            Response.json(.object([
                "node": .string(membership.node), "epoch": .number(String(membership.epoch)),
                "catalogVersion": .number(String(membership.catalogVersion)),
                "events": .number(String(try await store.eventCount())),
            ]))
        }
        router.put("/internal/v1/assignment") { request, _ -> Response in
            try await membership.apply(request.jsonBody(maxBytes: limits.maxBodyBytes))
            return Response(status: .noContent)
        }
        var forwarded = limits
        forwarded.maxBodyBytes = max(limits.maxBodyBytes, ClusterSettings.forwardBodyBytesCeiling)
        forwarded.maxBatchEvents = max(limits.maxBatchEvents, ClusterSettings.forwardEventsCeiling)
        router.post("/internal/v1/events") { [forwarded] request, _ -> Response in
            let events = try await IngestRequest.events(of: request, limits: forwarded)
            try membership.admit(request, subjects: events.lazy.map(\.subject))
            try await store.ingest(events)
            return Response(status: .noContent)
        }
        router.post("/internal/v1/query") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            let query = try QueryRequestParser.parse(body: body["query"] ?? .null)
            try membership.admit(request, subjects: query.subjects)
            let id = body["meter"]?.stringValue ?? ""
            guard let meter = store.meter(idOrSlug: id) else { throw Problem.meterNotFound(id) }
            guard case .success(let calendar) = query.validate(for: meter) else { throw Problem.invalidField("query", "is invalid for meter \(meter.slug)") }
            var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
            try await store.accumulate(meter: meter, query: query, calendar: calendar, into: &accumulator)
            return Response.json(accumulator.partialsJSON)
        }
        router.get("/internal/v1/subjects") { request, _ -> Response in
            try membership.admit(request, subjects: [String]())
            return Response.json(SubjectListing.json(try await store.subjects()))
        }
        router.get("/internal/v1/meters/:meter/subjects") { request, context -> Response in
            try membership.admit(request, subjects: [String]())
            let id = context.parameters.get("meter") ?? ""
            guard let meter = store.meter(idOrSlug: id) else { throw Problem.meterNotFound(id) }
            let parameters = request.uri.queryParameters
            let from = parameters["from"].flatMap { Timestamp(rfc3339: $0) }
            let to = parameters["to"].flatMap { Timestamp(rfc3339: $0) }
            return Response.json(.array(try await store.meterSubjects(meter: meter, from: from, to: to).map(JSONValue.string)))
        }
        router.get("/internal/v1/events") { request, _ -> Response in
            let filter = try EventListing.filter(request.uri.queryParameters)
            try membership.admit(request, subjects: [String]())
            return Response.json(EventListing.json(try await store.listEvents(filter)))
        }
    }
}
