import Foundation
import Hummingbird
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore

/// A worker's routes for moving slots: serving a chunk of the slots it owns to another worker (any cluster
/// certificate), pulling and installing one from another worker into its primary or replica store (`"store"`), and
/// deleting from one store slots it no longer holds there (both the coordinator's).
struct SlotRoutes<Context: RequestContext> {
    let stores: WorkerStores
    let membership: WorkerMembership
    let puller: SlotPuller

    private var store: ShardStore { stores.primary }

    func register(on router: Router<Context>) {
        router.get("/internal/v1/slots/chunk") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let (slots, slotCount) = try SlotRoutes.slots(
                parameters["slots"].map(String.init) ?? "", parameters["slotCount"].map(String.init))
            let after = try SlotRoutes.integer(parameters["after"].map(String.init) ?? "0", "after", Int64.self)
            let maxEvents = try SlotRoutes.integer(
                parameters["maxEvents"].map(String.init) ?? String(ClusterSettings.maxMoveChunkEvents), "maxEvents",
                Int.self)
            var limit = min(max(maxEvents, 1), ClusterSettings.maxMoveChunkEvents)
            while true {
                let data = try await store.exportSlots(Set(slots), slotCount: slotCount, after: after, maxEvents: limit)
                let (header, body) = try SlotChunkBody.encode(data)
                if header.bytes <= SlotChunkHeader.maxChunkBytes || data.events.count <= 1 {
                    return Response(
                        status: .ok, headers: header.fields, body: .init(byteBuffer: ByteBuffer(data: body)))
                }
                limit = max(1, data.events.count / 2)
            }
        }
        router.post("/internal/v1/slots/pull") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: SlotRouteLimits.maxRequestBytes)
            guard body["worker"]?.stringValue == membership.node else {
                throw MembershipError.wrongNode(body["worker"]?.stringValue).problem(node: membership.node)
            }
            guard let source = body["source"]?.stringValue, source.hasPrefix("https://") else {
                throw Problem.invalidField("source", "must be the https:// URL of the source worker")
            }
            guard let cursor = body["cursor"]?.stringValue, !cursor.isEmpty, cursor.utf8.count <= 200 else {
                throw Problem.invalidField("cursor", "must name the copy in 1 to 200 bytes")
            }
            let slotsText = (body["slots"]?.arrayValue ?? []).map { $0.numberText ?? "x" }.joined(separator: ",")
            let (slots, slotCount) = try SlotRoutes.slots(slotsText, body["slotCount"]?.numberText)
            let after = try SlotRoutes.integer(body["after"]?.numberText ?? "0", "after", Int64.self)
            let maxEvents = try SlotRoutes.integer(
                body["maxEvents"]?.numberText ?? String(ClusterSettings.maxMoveChunkEvents), "maxEvents", Int.self)
            let role = try SlotRoutes.role(body["store"])
            do {
                let outcome = try await puller.pull(
                    source: source, slots: slots, slotCount: slotCount, after: after, maxEvents: maxEvents,
                    cursor: cursor, into: stores.store(role))
                return Response.json(
                    .object([
                        "through": .number(String(outcome.through)),
                        "sourcePosition": .number(String(outcome.sourcePosition)),
                        "events": .number(String(outcome.events)), "installed": .number(String(outcome.installed)),
                        "bytes": .number(String(outcome.bytes)),
                    ]))
            } catch let error as SlotChunkError {
                throw Problem(
                    .badGateway, type: "urn:tally:problem:chunk-refused",
                    detail: "the chunk from \(source) was refused and nothing of it installed: \(error)")
            } catch let error as SlotPullError {
                throw Problem(.badGateway, type: "urn:tally:problem:source-refused", detail: "\(error)")
            } catch let error as SlotDataError {
                throw Problem(.conflict, type: "urn:tally:problem:slot-copy", detail: "\(error)")
            }
        }
        router.post("/internal/v1/slots/delete") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: SlotRouteLimits.maxRequestBytes)
            let slotsText = (body["slots"]?.arrayValue ?? []).map { $0.numberText ?? "x" }.joined(separator: ",")
            let (slots, slotCount) = try SlotRoutes.slots(slotsText, body["slotCount"]?.numberText)
            let role = try SlotRoutes.role(body["store"])
            let held = membership.heldSlots(role, slotCount: slotCount)
            let kept = slots.filter { held.contains($0) }
            guard kept.isEmpty else {
                throw Problem(
                    .conflict, type: "urn:tally:problem:slot-owned",
                    detail: "worker \(membership.node) holds slot(s) \(kept.map(String.init).joined(separator: ", ")) "
                        + "as \(role.rawValue) at epoch \(membership.epoch); only slots it no longer holds are deleted")
            }
            let deleted = try await stores.store(role).deleteSlots(Set(slots), slotCount: slotCount)
            return Response.json(.object(["deleted": .number(String(deleted))]))
        }
    }

    /// The store a request names: `"primary"` (the default) or `"replica"`.
    static func role(_ value: JSONValue?) throws -> SlotRole {
        guard let value else { return .primary }
        guard let role = value.stringValue.flatMap(SlotRole.init(rawValue:)) else {
            throw Problem.invalidField("store", "must be \"primary\" or \"replica\"")
        }
        return role
    }

    static func integer<T: FixedWidthInteger>(_ text: String, _ field: String, _: T.Type) throws -> T {
        guard let value = T(text), value >= 0 else { throw Problem.invalidField(field, "must be an integer ≥ 0") }
        return value
    }

    /// A comma-separated slot list and its slot count, each slot below the count.
    static func slots(_ text: String, _ countText: String?) throws -> (slots: [Int], slotCount: Int) {
        guard let countText, let slotCount = Int(countText), (1...SlotTable.maxSlotCount).contains(slotCount) else {
            throw Problem.invalidField("slotCount", "must be an integer from 1 to \(SlotTable.maxSlotCount)")
        }
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        let slots = items.compactMap { Int($0) }
        guard !text.isEmpty, slots.count == items.count, slots.allSatisfy({ (0..<slotCount).contains($0) }),
            slots == slots.sorted(), Set(slots).count == slots.count
        else {
            throw Problem.invalidField(
                "slots", "must list distinct slots from 0 to \(slotCount - 1) in ascending order")
        }
        return (slots, slotCount)
    }
}

/// Limits of a worker's slot routes.
enum SlotRouteLimits {
    /// Largest request body of the slot routes, in bytes (a slot list of the largest cluster).
    static let maxRequestBytes = 1024 * 1024
}

extension JSONValue {
    /// The text of a JSON number.
    fileprivate var numberText: String? {
        if case .number(let text) = self { text } else { nil }
    }
}
