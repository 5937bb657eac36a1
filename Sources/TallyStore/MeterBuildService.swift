import Logging
import ServiceLifecycle
import TallyCore

/// Runs meters' back-fills (`MeterBuild`) in the background, one chunk per transaction, whenever the store asks
/// (`ShardStore.requestBuilds`: a meter change with a large back-fill, or a store opened with builds unfinished).
/// Between chunks it stops for graceful shutdown; the next start resumes from the last committed chunk.
public struct MeterBuildService: Service {
    public let store: ShardStore
    /// Wait after a failed chunk before trying again.
    public let retryInterval: Duration
    let logger: Logger

    /// A builder for `store`'s back-fills.
    public init(
        store: ShardStore, retryInterval: Duration = .seconds(5), logger: Logger = Logger(label: "tally.build")
    ) {
        self.store = store
        self.retryInterval = retryInterval
        self.logger = logger
    }

    /// Runs every pending build chunk by chunk whenever the store signals, until graceful shutdown; a failed chunk
    /// is retried after `retryInterval`.
    public func run() async throws {
        for await _ in store.buildSignals.cancelOnGracefulShutdown() {
            do {
                while !Task.isShuttingDownGracefully, !Task.isCancelled, try await store.buildNextChunk() {}
            } catch {
                logger.error("meter back-fill failed; retrying", metadata: ["error": "\(error)"])
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: retryInterval) }
                } catch {
                    return
                }
                store.requestBuilds()
            }
        }
    }
}
