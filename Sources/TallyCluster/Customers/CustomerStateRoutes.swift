import Hummingbird
import TallyCore
import TallyHTTP
import TallyStore

/// A worker's internal routes for per-customer state (customers, entitlements, grants, resets), which lives in the
/// slot of the customer's owner key: reading a set of slots' state from one store, installing it into the store that
/// holds those slots (the coordinator copies a slot's state from its owner to its replicas after every write, and
/// to a worker that takes the slot), and finding the owner key of a customer, entitlement or grant id.
struct CustomerStateRoutes<Context: RequestContext> {
    /// Largest customer state one install may carry, in bytes.
    static var maxStateBytes: Int { 64 * 1024 * 1024 }

    let stores: WorkerStores
    let membership: WorkerMembership

    func register(on router: Router<Context>) {
        router.get("/internal/v1/customer-state") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let (slots, slotCount) = try SlotRoutes<Context>.slots(
                parameters["slots"].map(String.init) ?? "", parameters["slotCount"].map(String.init))
            let store = stores.store(try SlotRoutes<Context>.role(parameters["store"].map { .string(String($0)) }))
            return Response.json(try await store.customerState(Set(slots), slotCount: slotCount).json)
        }
        router.put("/internal/v1/customer-state") { request, _ -> Response in
            let role = try SlotRoutes<Context>.role(request.uri.queryParameters["store"].map { .string(String($0)) })
            let body = try await request.jsonBody(maxBytes: Self.maxStateBytes)
            guard let data = CustomerStateData(json: body) else {
                throw Problem.invalidField(
                    "body",
                    "must be customer state: slots, slotCount and rows of the per-customer tables, "
                        + "at most \(CustomerStateData.maxRows) rows")
            }
            let held = membership.heldSlots(role, slotCount: data.slotCount)
            let foreign = data.slots.filter { !held.contains($0) }
            guard foreign.isEmpty else {
                throw MembershipError.notOwner(slots: foreign, epoch: membership.epoch).problem(node: membership.node)
            }
            do {
                let installed = try await stores.store(role).installCustomerState(data)
                return Response.json(.object(["installed": .number(String(installed))]))
            } catch let error as SlotDataError {
                throw Problem.invalidField("body", "\(error)")
            }
        }
        router.get("/internal/v1/owners/locate") { request, _ -> Response in
            let id = request.uri.queryParameters["id"].map(String.init) ?? ""
            guard let owner = try await stores.primary.ownerKey(ofID: id) else {
                throw Problem(.notFound, type: "urn:tally:problem:not-found", detail: "no customer state has id \(id)")
            }
            return Response.json(.object(["ownerKey": .string(owner)]))
        }
    }
}
