import AsyncHTTPClient
import NIOCore
import TallyConfiguration
import TallyCore
import TallyStore

/// Why a pull of a slot chunk failed before anything was installed.
public enum SlotPullError: Error, Sendable, Hashable {
    /// The source worker answered with a status other than 200.
    case sourceAnswered(status: Int, detail: String)
}

/// The receiving worker's side of a slot copy: it asks the source worker for the next chunk over mutual TLS (its own
/// cluster certificate), receives it through `SlotChunkReceiver` and installs it in the store it is told under the
/// copy's cursor, so a chunk pulled twice is installed once. Each pull has its own client, shut down when it ends: a
/// pull moves megabytes, so a handshake per pull costs nothing worth a client that lives (and must be shut down) with
/// the worker.
public struct SlotPuller: Sendable {
    /// Longest wait for one chunk, from the request to the last byte.
    public static let chunkTimeout = TimeAmount.seconds(300)

    let tls: ClusterTLS
    let receiver: SlotChunkReceiver

    public init(tls: ClusterTLS, receiver: SlotChunkReceiver) {
        self.tls = tls
        self.receiver = receiver
    }

    /// What one pull did.
    public struct Outcome: Sendable, Hashable {
        public var through: Int64
        public var sourcePosition: Int64
        public var events: Int
        public var installed: Int
        public var bytes: Int
    }

    /// Pulls the events of `slots` above `after` from the `sourceStore` of the worker at `source` (at most
    /// `maxEvents`) and installs them into `store` as the copy `cursor` (`merging`: only what `store` lacks,
    /// `ShardStore.installSlots`).
    public func pull(
        source: String, sourceStore: SlotRole = .primary, slots: [Int], slotCount: Int, after: Int64, maxEvents: Int,
        cursor: String, into store: ShardStore, merging: Bool = false
    ) async throws -> Outcome {
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls.client))
        do {
            let outcome = try await pull(
                with: http, source: source, sourceStore: sourceStore, slots: slots, slotCount: slotCount, after: after,
                maxEvents: maxEvents, cursor: cursor, into: store, merging: merging)
            try await http.shutdown()
            return outcome
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func pull(
        with http: HTTPClient, source: String, sourceStore: SlotRole, slots: [Int], slotCount: Int, after: Int64,
        maxEvents: Int, cursor: String, into store: ShardStore, merging: Bool
    ) async throws -> Outcome {
        let query =
            "slots=\(slots.map(String.init).joined(separator: ","))&slotCount=\(slotCount)&after=\(after)"
            + "&maxEvents=\(min(max(maxEvents, 1), ClusterSettings.maxMoveChunkEvents))&store=\(sourceStore.rawValue)"
        let request = HTTPClientRequest(url: source + "/internal/v1/slots/chunk?" + query)
        let response = try await http.execute(request, timeout: SlotPuller.chunkTimeout)
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
            let detail =
                (try? JSONParser.parse(body.readableBytesView))?["detail"]?.stringValue ?? String(buffer: body)
            throw SlotPullError.sourceAnswered(status: Int(response.status.code), detail: detail)
        }
        guard let header = SlotChunkHeader({ response.headers.first(name: $0.rawName) }) else {
            throw SlotChunkError.refused("the chunk's header is missing or malformed")
        }
        try receiver.accept(header, slots: slots, slotCount: slotCount, after: after)
        let data = try await receiver.receive(header, body: response.body)
        let installed = try await store.installSlots(data, cursor: cursor, merging: merging)
        return Outcome(
            through: data.through, sourcePosition: data.sourcePosition, events: data.events.count,
            installed: installed, bytes: header.bytes)
    }
}
