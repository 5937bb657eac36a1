import Foundation
import Hummingbird
import TallyConfiguration
import TallyCore
import TallyHTTP
import TallyStore

/// A worker's routes for moving slots: serving a chunk of the slots it owns (or, with `store=replica`, keeps copies of)
/// to another worker (any cluster certificate), pulling and installing one from another worker's store
/// (`"sourceStore"`) into its primary or replica store (`"store"`),
/// deleting from one store slots it no longer holds there, and the digests of slots in one store, which the
/// coordinator compares between copies (the last three the coordinator's).
struct SlotRoutes<Context: RequestContext> {
    let stores: WorkerStores
    let membership: WorkerMembership
    let puller: SlotPuller

    func register(on router: Router<Context>) {
        registerDigests(on: router)
        router.get("/internal/v1/slots/chunk") { request, _ -> Response in
            let parameters = request.uri.queryParameters
            let (slots, slotCount) = try SlotRoutes.slots(
                parameters["slots"].map(String.init) ?? "", parameters["slotCount"].map(String.init))
            let after = try SlotRoutes.integer(parameters["after"].map(String.init) ?? "0", "after", Int64.self)
            let maxEvents = try SlotRoutes.integer(
                parameters["maxEvents"].map(String.init) ?? String(ClusterSettings.maxMoveChunkEvents), "maxEvents",
                Int.self)
            var limit = min(max(maxEvents, 1), ClusterSettings.maxMoveChunkEvents)
            let source = stores.store(try SlotRoutes.role(parameters["store"].map { .string(String($0)) }))
            while true {
                let data = try await source.exportSlots(
                    Set(slots), slotCount: slotCount, after: after, maxEvents: limit)
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
            let sourceRole = try SlotRoutes.role(body["sourceStore"], field: "sourceStore")
            let target = stores.store(role)
            if after == 0, try await target.copiedThrough(cursor: cursor) == 0 {
                // A copy starting here: whatever this store still holds of slots it does not hold at its epoch is a
                // leftover (a delete that failed, a cancelled copy) and would be counted beside the copy.
                let held = membership.heldSlots(role, slotCount: slotCount)
                let stale = Set(slots.filter { !held.contains($0) })
                if !stale.isEmpty { try await target.deleteSlots(stale, slotCount: slotCount) }
            }
            do {
                let outcome = try await puller.pull(
                    source: source, sourceStore: sourceRole, slots: slots, slotCount: slotCount, after: after,
                    maxEvents: maxEvents, cursor: cursor, into: stores.store(role),
                    merging: body["merge"] == .bool(true))
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
            try await stores.store(role).deleteCustomerState(Set(slots), slotCount: slotCount)
            return Response.json(.object(["deleted": .number(String(deleted))]))
        }
    }

    /// `POST /internal/v1/slots/digest` with `{"slots", "slotCount", "store"}`: `{"epoch", "digests": [{"slot",
    /// "events", "checksum"}]}` (the checksum as 16 hexadecimal digits), one per slot asked, in the order asked, and
    /// the worker's epoch when it read them.
    func registerDigests(on router: Router<Context>) {
        router.post("/internal/v1/slots/digest") { request, _ -> Response in
            let body = try await request.jsonBody(maxBytes: SlotRouteLimits.maxRequestBytes)
            let slotsText = (body["slots"]?.arrayValue ?? []).map { $0.numberText ?? "x" }.joined(separator: ",")
            let (slots, slotCount) = try SlotRoutes.slots(slotsText, body["slotCount"]?.numberText)
            let epoch = membership.epoch
            let digests = try await stores.store(try SlotRoutes.role(body["store"])).slotDigests(
                Set(slots), slotCount: slotCount)
            return Response.json(
                .object([
                    "epoch": .number(String(epoch)),
                    "digests": .array(
                        slots.map { slot in
                            let digest = digests[slot] ?? SlotDigest()
                            return .object([
                                "slot": .number(String(slot)), "events": .number(String(digest.events)),
                                "checksum": .string(digest.checksumText),
                            ])
                        }),
                ]))
        }
    }

    /// The store a request names in `field`: `"primary"` (the default) or `"replica"`.
    static func role(_ value: JSONValue?, field: String = "store") throws -> SlotRole {
        guard let value else { return .primary }
        guard let role = value.stringValue.flatMap(SlotRole.init(rawValue:)) else {
            throw Problem.invalidField(field, "must be \"primary\" or \"replica\"")
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
