import Foundation
import Hummingbird
import TallyHTTP

/// Fences the public per-customer routes a worker serves to the coordinator (`/api/...`): each request must come at
/// the worker's epoch and, when it names the owner key it acts for (`WorkerHeaders.ownerKey`), for a key of a slot
/// the worker owns; it runs inside the `CustomerRequestGate`, so no assignment is applied while it runs.
struct CustomerRouteMiddleware<Context: RequestContext>: RouterMiddleware {
    let membership: WorkerMembership
    let gate: CustomerRequestGate

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        let (epoch, catalog) = WorkerHeaders.routing(request.headers)
        var owner: String?
        if let header = request.headers[WorkerHeaders.ownerKey] {
            guard let decoded = header.removingPercentEncoding else {
                throw Problem.invalidField(WorkerHeaders.ownerKey.rawName, "must be percent-encoded UTF-8")
            }
            owner = decoded
        }
        guard gate.enter() else {
            throw Problem(
                .conflict, type: WorkerHeaders.assignmentInProgressProblem,
                detail: "worker \(membership.node) is applying a new assignment; retry shortly")
        }
        defer { gate.leave() }
        do {
            try membership.admit(epoch: epoch, catalog: catalog, subjects: owner.map { [$0] } ?? [])
        } catch {
            throw error.problem(node: membership.node)
        }
        return try await next(request, context)
    }
}
