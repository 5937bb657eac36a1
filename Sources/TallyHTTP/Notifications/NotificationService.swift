import Logging
import ServiceLifecycle
import TallyCore
import TallyStore

/// The node's notification loop: every `pollInterval` it evaluates the thresholds of customers with new usage
/// (`ShardStore.touchCustomers`) and delivers the webhooks that are due, until graceful shutdown. Pending
/// deliveries live in the outbox, so a restart resumes them.
public struct NotificationService: Service {
    /// Time between two rounds.
    public let pollInterval: Duration
    /// Time between two evaluations of every customer (a grant that expires or starts, or a period that rolls
    /// over, moves a balance without any request); the first runs at start, so a restart misses nothing.
    public let fullSweepInterval: Duration
    /// How long each webhook attempt may take.
    public let timeouts: WebhookDelivery.Timeouts
    let notifier: BalanceNotifier
    let store: ShardStore
    let logger: Logger

    public init(
        store: ShardStore, pollInterval: Duration = .milliseconds(200), fullSweepInterval: Duration = .seconds(60),
        timeouts: WebhookDelivery.Timeouts = .init(), logger: Logger
    ) {
        self.store = store
        self.timeouts = timeouts
        self.pollInterval = pollInterval
        self.fullSweepInterval = fullSweepInterval
        self.notifier = BalanceNotifier(store: store, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        let client = WebhookDelivery.makeClient(timeouts)
        await rounds(delivery: WebhookDelivery(store: store, client: client, timeouts: timeouts, logger: logger))
        try await client.shutdown()
    }

    private func rounds(delivery: WebhookDelivery) async {
        var lastSweep: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if lastSweep.map({ ContinuousClock.now - $0 >= fullSweepInterval }) ?? true {
                store.touchCustomers([String]?.none, all: true)
                lastSweep = .now
            }
            let customers = store.takeTouchedCustomers()
            do {
                if customers.map({ !$0.isEmpty }) ?? true {
                    _ = try await cancelWhenGracefulShutdown { try await notifier.evaluate(customers: customers) }
                }
            } catch {
                // Looked at again next round.
                store.touchCustomers(customers, all: customers == nil)
                logger.error("threshold evaluation failed", metadata: ["error": "\(error)"])
            }
            do {
                _ = try await cancelWhenGracefulShutdown { try await delivery.deliverDue() }
            } catch {
                logger.error("webhook delivery round failed", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
            } catch {
                return
            }
        }
    }
}
