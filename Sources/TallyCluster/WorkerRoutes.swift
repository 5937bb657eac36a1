import HTTPTypes
import Hummingbird
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore

/// The internal API a worker serves to the coordinator over mutual TLS. Every route but the assignment is fenced: it
/// answers only for the worker's epoch and for subjects in its slots; a forwarded batch is admitted inside the
/// transaction that commits it, its events of slots the worker owns in the primary store and those of slots it
/// replicates in the replica store. Reads are answered from the primary store. Forwarded ingest requests combine parts
/// of several client batches, so they may be up to `forwardBodyBytesCeiling`; each event meets the same `InputLimits`
/// as at the coordinator.
struct WorkerRoutes<Context: RequestContext> {
    let stores: WorkerStores
    let membership: WorkerMembership
    let limits: APILimits
    let gate: CustomerRequestGate

    private var store: ShardStore { stores.primary }

    func register(on router: Router<Context>) {
        router.get("/internal/v1/assignment") { _, _ -> Response in
            Response.json(
                .object([
                    "node": .string(membership.node), "epoch": .number(String(membership.epoch)),
                    "catalogVersion": .number(String(membership.catalogVersion)),
                    "events": .number(String(stores.primary.eventCount)),
                    "replicaEvents": .number(String(stores.replica.eventCount)),
                ]))
        }
        let promotion = ReplicaPromotion(stores: stores, membership: membership)
        router.put("/internal/v1/assignment") { request, _ -> Response in
            if request.headers[WorkerHeaders.expectTable] != nil, membership.table == nil {
                throw MembershipError.tableLost.problem(node: membership.node)
            }
            let assignment = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            do {
                try await gate.closed { try await rendering { try await promotion.apply(assignment) } }
            } catch CustomerRequestGateError.requestsInFlight {
                throw Problem(
                    .serviceUnavailable, type: "urn:tally:problem:customer-requests-in-flight",
                    detail: "per-customer requests still ran after \(CustomerRequestGate.maxDrainWaitMs) ms; "
                        + "the assignment is applied at the next push")
            }
            return Response(status: .noContent)
        }
        var forwarded = limits
        forwarded.maxBodyBytes = max(limits.maxBodyBytes, ClusterSettings.forwardBodyBytesCeiling)
        forwarded.maxBatchEvents = max(limits.maxBatchEvents, ClusterSettings.forwardEventsCeiling)
        router.post("/internal/v1/events") { [forwarded] request, _ -> Response in
            let events = try await IngestRequest.events(of: request, limits: forwarded)
            let (epoch, catalog) = WorkerHeaders.routing(request.headers)
            let table = membership.table
            var parts: [SlotRole: [CloudEvent]] = [:]
            for event in events {
                let role = table.flatMap { $0.role(of: membership.node, slot: $0.slot(of: event.subject)) }
                parts[role ?? .primary, default: []].append(event)
            }
            let enforce = request.headers[WorkerHeaders.enforce].flatMap(EnforcementMode.init(rawValue:))
            if enforce == .check {
                try rendering {
                    try membership.admit(epoch: epoch, catalog: catalog, subjects: events.lazy.map(\.subject))
                }
                try await stores.primary.checkEnforcement(events)
                return Response(status: .noContent)
            }
            try await rendering {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (role, part) in parts {
                        group.addTask {
                            let admit: @Sendable () throws -> Void = {
                                try membership.admit(
                                    epoch: epoch, catalog: catalog, subjects: part.lazy.map(\.subject), role: role)
                            }
                            if role == .primary, enforce == .reject {
                                try await stores.primary.ingestEnforced(part, admit: admit)
                            } else {
                                try await stores.store(role).ingest(part, admit: admit)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            return Response(status: .noContent)
        }
        router.post("/internal/v1/query") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: limits.maxBodyBytes)
            let query = try QueryRequestParser.parse(body: body["query"] ?? .null)
            let id = body["meter"]?.stringValue ?? ""
            let allowPartial = body["allowPartial"] == .bool(true)
            return try await reading(request, subjects: query.subjects) {
                guard let meter = store.meter(idOrSlug: id) else { throw Problem.meterNotFound(id) }
                guard case .success(let calendar) = query.validate(for: meter) else {
                    throw Problem.invalidField("query", "is invalid for meter \(meter.slug)")
                }
                var accumulator = QueryAccumulator(meter: meter, query: query, calendar: calendar)
                try await store.accumulate(
                    meter: meter, query: query, calendar: calendar, allowPartial: allowPartial, into: &accumulator)
                return Response.json(accumulator.partialsJSON)
            }
        }
        router.get("/internal/v1/subjects") { request, _ -> Response in
            let page = try SubjectListing.page(request.uri.queryParameters)
            return try await reading(request) {
                Response.json(
                    SubjectListing.json(
                        try await store.subjects(after: page.after, limit: page.limit ?? SubjectListing.maxPageSize)))
            }
        }
        router.get("/internal/v1/meters/:meter/subjects") { request, context -> Response in
            let id = context.parameters.get("meter") ?? ""
            let (from, to) = try QueryRequestParser.range(request.uri.queryParameters)
            return try await reading(request) {
                guard let meter = store.meter(idOrSlug: id) else { throw Problem.meterNotFound(id) }
                return Response.json(
                    .array(try await store.meterSubjects(meter: meter, from: from, to: to).map(JSONValue.string)))
            }
        }
        router.get("/internal/v1/events") { request, _ -> Response in
            let filter = try EventListing.filter(request.uri.queryParameters)
            return try await reading(request) {
                Response.json(EventListing.json(try await store.listEvents(filter)))
            }
        }
    }

    /// Admits a read routed at the worker's epoch, runs it, and answers it only if the epoch is still the same: a
    /// slot move deletes a source's given-up slots only after the source moved to the next epoch, so a read that
    /// overlapped such a delete is answered 409 (stale epoch) and the coordinator plans the query again.
    private func reading(
        _ request: Request, subjects: some Sequence<String> = [String](), _ read: () async throws -> Response
    ) async throws -> Response {
        let (epoch, catalog) = WorkerHeaders.routing(request.headers)
        try rendering { try membership.admit(epoch: epoch, catalog: catalog, subjects: subjects) }
        let response = try await read()
        guard membership.epoch == epoch else {
            throw MembershipError.staleEpoch(requested: epoch, local: membership.epoch).problem(node: membership.node)
        }
        return response
    }

    private func rendering<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as MembershipError { throw error.problem(node: membership.node) }
    }

    private func rendering<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as MembershipError { throw error.problem(node: membership.node) }
    }
}

/// How a worker judges a forwarded batch (`WorkerHeaders.enforce`).
enum EnforcementMode: String, Sendable {
    case check
    case reject
}

/// The headers a coordinator routes a request to a worker with.
public enum WorkerHeaders {
    /// The epoch the request was routed at.
    public static let epoch = HTTPField.Name("Tally-Epoch")!
    /// The meter catalog version the coordinator held when it sent the request.
    public static let catalog = HTTPField.Name("Tally-Catalog-Version")!
    /// On a per-customer request: the owner key (percent-encoded) it acts for, so the worker checks it owns its slot.
    public static let ownerKey = HTTPField.Name("Tally-Owner-Key")!
    /// On a forwarded batch: `check` judges it by the entitlements of features that reject usage without access
    /// and stores nothing (204, or 403 naming the refused events); `reject` stores it only if no event is refused.
    public static let enforce = HTTPField.Name("Tally-Enforce")!
    /// On an assignment: the worker took one before, so it must refuse this one if it has no slot table.
    public static let expectTable = HTTPField.Name("Tally-Expect-Table")!
    /// The problem type of that refusal.
    public static let tableLostProblem = "urn:tally:problem:table-lost"
    /// The problem type of a per-customer request refused while the worker applies an assignment (retried as is).
    public static let assignmentInProgressProblem = "urn:tally:problem:assignment-in-progress"

    /// The epoch (-1 when absent) and catalog version (0 when absent) of a request.
    static func routing(_ headers: HTTPFields) -> (epoch: Int64, catalog: Int64) {
        (headers[epoch].flatMap { Int64($0) } ?? -1, headers[catalog].flatMap { Int64($0) } ?? 0)
    }
}

extension MembershipError {
    /// The 409 (or 400 for a malformed assignment) problem a worker answers.
    func problem(node: String) -> Problem {
        switch self {
        case .staleEpoch(let requested, let local):
            Problem(
                .conflict, type: "urn:tally:problem:stale-epoch",
                detail: "request routed at epoch \(requested); worker \(node) is at epoch \(local)",
                extensions: ["node": .string(node), "epoch": .number(String(local))])
        case .notOwner(let slots, let epoch):
            Problem(
                .conflict, type: "urn:tally:problem:not-owner",
                detail:
                    "worker \(node) does not own slot(s) \(slots.map(String.init).joined(separator: ", ")) "
                    + "at epoch \(epoch)",
                extensions: ["node": .string(node), "slots": .array(slots.map { .number(String($0)) })])
        case .catalogBehind(let local, let needed):
            Problem(
                .conflict, type: "urn:tally:problem:catalog-behind",
                detail: "worker \(node) holds meter catalog version \(local); the request needs \(needed)",
                extensions: ["node": .string(node), "catalogVersion": .number(String(local))])
        case .wrongNode(let named):
            Problem(
                .conflict, type: "urn:tally:problem:wrong-node",
                detail: "this worker is \(node); the assignment is for \(named?.echoed ?? "nobody")")
        case .staleAssignment(let epoch, let version, let localEpoch, let localVersion):
            Problem(
                .conflict, type: "urn:tally:problem:stale-assignment",
                detail: "assignment for epoch \(epoch), catalog \(version); worker \(node) already holds epoch "
                    + "\(localEpoch), catalog \(localVersion)")
        case .invalidAssignment(let error):
            Problem.invalid("the assignment is invalid", [error])
        case .tableLost:
            Problem(
                .conflict, type: WorkerHeaders.tableLostProblem,
                detail: "worker \(node) has no slot table although it took one: its data folder was lost")
        }
    }
}
