import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TallyCore
import TallyStore

/// Delivers due notifications from the outbox: an HTTP POST of the payload to each channel's URL with its custom
/// headers and Standard Webhooks / Svix signatures (`webhook-*` and `svix-*`), every attempt recorded, failures
/// retried by `DeliveryPolicy`. The message id is the event id on every attempt, so receivers can de-duplicate.
public struct WebhookDelivery: Sendable {
    /// How long one attempt may take.
    public struct Timeouts: Sendable {
        /// Longest a receiver may take to answer one attempt, answer body included (default 10 s).
        public var webhookTimeout: Duration
        /// Longest a connection to a receiver may take (default 2 s: a receiver that is down fails fast).
        public var connectTimeout: Duration

        public init(webhookTimeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(2)) {
            self.webhookTimeout = webhookTimeout
            self.connectTimeout = connectTimeout
        }
    }
    /// Most events delivered per round.
    public static let maxEventsPerRound = 32
    /// Longest part of a receiver's answer kept with an attempt, in bytes.
    public static let maxRecordedResponseBytes = 1024

    let store: ShardStore
    let client: HTTPClient
    let timeouts: Timeouts
    let logger: Logger

    /// The HTTP client deliveries use: `connectTimeout` to connect, `webhookTimeout` for the answer. Shut it down
    /// when done.
    public static func makeClient(_ timeouts: Timeouts) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        // A redirect would turn the POST into a GET, or carry the signature to another host: an answer is final.
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(
            connect: .seconds(timeouts.connectTimeout.components.seconds),
            read: .seconds(timeouts.webhookTimeout.components.seconds))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public init(store: ShardStore, client: HTTPClient, timeouts: Timeouts, logger: Logger) {
        self.store = store
        self.client = client
        self.timeouts = timeouts
        self.logger = logger
    }

    /// Attempts every delivery due at `now`; answers how many attempts were made.
    @discardableResult
    public func deliverDue(now: Timestamp = .now) async throws -> Int {
        let due = try await store.dueNotifications(now: now, limit: Self.maxEventsPerRound)
        guard !due.isEmpty else { return 0 }
        let channels = Dictionary(uniqueKeysWithValues: try await store.channels().map { ($0.id, $0) })
        // Every due delivery of the round at once: a receiver that is down delays no other.
        let outcomes = await withTaskGroup(of: (String, String, NotificationEvent.Attempt).self) { group in
            for event in due {
                for delivery in event.deliveries {
                    guard let next = delivery.nextAttempt, next <= now else { continue }
                    let channel = channels[delivery.channelID]
                    group.addTask {
                        guard let channel, channel.deletedAt == nil, !channel.spec.disabled else {
                            let attempt = NotificationEvent.Attempt(
                                success: false, timestamp: .now, statusCode: nil,
                                body: "the channel is deleted or disabled", durationMs: 0)
                            return (event.id, delivery.channelID, attempt)
                        }
                        return (event.id, delivery.channelID, await send(event, to: channel))
                    }
                }
            }
            var outcomes: [(String, String, NotificationEvent.Attempt)] = []
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        for (eventID, channelID, attempt) in outcomes {
            _ = try await store.updateNotification(id: eventID) { $0.record(attempt, channelID: channelID) }
        }
        return outcomes.count
    }

    func send(_ event: NotificationEvent, to channel: NotificationChannel) async -> NotificationEvent.Attempt {
        let started = ContinuousClock.now
        let timestamp = Timestamp.now
        func failed(_ reason: String) -> NotificationEvent.Attempt {
            NotificationEvent.Attempt(
                success: false, timestamp: timestamp, statusCode: nil, body: reason.echoed,
                durationMs: Self.milliseconds(since: started))
        }
        guard ChannelSpec.isWebhookURL(channel.spec.url) else { return failed("the channel's URL is not usable") }
        let seconds = String(timestamp.micros / Timestamp.microsPerSecond)
        var request = HTTPClientRequest(url: channel.spec.url)
        request.method = .POST
        for (name, value) in channel.spec.customHeaders.sorted(by: { $0.key < $1.key }) {
            request.headers.add(name: name, value: value)
        }
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        let signature = Self.signature(
            secret: channel.spec.signingSecret ?? "", id: event.id, timestamp: seconds, body: event.payload)
        for prefix in ["webhook", "svix"] {
            request.headers.replaceOrAdd(name: "\(prefix)-id", value: event.id)
            request.headers.replaceOrAdd(name: "\(prefix)-timestamp", value: seconds)
            request.headers.replaceOrAdd(name: "\(prefix)-signature", value: signature)
        }
        request.body = .bytes(ByteBuffer(string: event.payload))
        let (client, prepared, limit) = (self.client, request, timeouts.webhookTimeout)
        do {
            // The whole attempt, answer body included, within `webhookTimeout`.
            let (status, text) = try await withThrowingTaskGroup(of: (Int, String)?.self) { group in
                group.addTask {
                    let response = try await client.execute(
                        prepared, timeout: .seconds(limit.components.seconds))
                    var kept = ByteBuffer()
                    for try await var part in response.body {
                        let room = Self.maxRecordedResponseBytes - kept.readableBytes
                        if room <= 0 { break }
                        if let slice = part.readSlice(length: min(room, part.readableBytes)) {
                            kept.writeImmutableBuffer(slice)
                        }
                    }
                    return (Int(response.status.code), String(buffer: kept))
                }
                group.addTask {
                    try await Task.sleep(for: limit)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else { throw DeliveryTimeout(limit: limit) }
                return first
            }
            return NotificationEvent.Attempt(
                success: (200..<300).contains(status), timestamp: timestamp, statusCode: status, body: text,
                durationMs: Self.milliseconds(since: started))
        } catch {
            logger.info("webhook attempt failed", metadata: ["event": "\(event.id)", "error": "\(error)"])
            return failed("\(error)")
        }
    }

    /// An attempt that outlived `webhookTimeout`.
    struct DeliveryTimeout: Error, CustomStringConvertible {
        var limit: Duration
        var description: String { "no complete answer within \(limit)" }
    }

    /// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` keyed by the secret's bytes.
    public static func signature(secret: String, id: String, timestamp: String, body: String) -> String {
        let key = SymmetricKey(data: WebhookSecret.key(secret) ?? [])
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: key)
        return "v1," + Data(code).base64EncodedString()
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
}
