import Logging
import ServiceLifecycle
import TallyCore

/// Periodically forgets de-dup entries older than the store's de-dup window.
public struct DedupPruneService: Service {
    public let store: ShardStore
    /// Time between prune passes.
    public let pruneInterval: Duration
    let logger: Logger

    public init(
        store: ShardStore, pruneInterval: Duration = .seconds(3600), logger: Logger = Logger(label: "tally.dedup")
    ) {
        self.store = store
        self.pruneInterval = pruneInterval
        self.logger = logger
    }

    /// Prunes, then sleeps `pruneInterval`, until graceful shutdown or cancellation (a failed prune waits for the
    /// next pass like a successful one, so a failing store never makes this loop spin).
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let removed = try await store.pruneDedup()
                if removed > 0 { logger.info("pruned de-dup entries", metadata: ["removed": "\(removed)"]) }
            } catch {
                logger.error("de-dup prune failed", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: pruneInterval) }
            } catch {
                return
            }
        }
    }
}
