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
    let notifier: BalanceNotifier
    let store: ShardStore
    let logger: Logger

    public init(store: ShardStore, pollInterval: Duration = .milliseconds(200), logger: Logger) {
        self.store = store
        self.pollInterval = pollInterval
        self.notifier = BalanceNotifier(store: store)
        self.logger = logger
    }

    public func run() async throws {
        let client = WebhookDelivery.makeClient()
        await rounds(delivery: WebhookDelivery(store: store, client: client, logger: logger))
        try await client.shutdown()
    }

    private func rounds(delivery: WebhookDelivery) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let customers = store.takeTouchedCustomers()
            do {
                if customers.map({ !$0.isEmpty }) ?? true { try await notifier.evaluate(customers: customers) }
            } catch {
                // Looked at again next round.
                store.touchCustomers(customers, all: customers == nil)
                logger.error("threshold evaluation failed", metadata: ["error": "\(error)"])
            }
            do {
                try await delivery.deliverDue()
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
