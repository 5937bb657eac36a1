import Foundation
import ServiceLifecycle

/// Stops a child process gracefully when the process that started it is gone (its parent id changes, as when
/// `tally local` is killed with SIGKILL), so no worker outlives its local cluster.
struct ParentWatch: Service {
    /// The process id the child was started by.
    let parent: Int32
    /// Time between two looks at the parent id.
    static let pollInterval = Duration.milliseconds(250)

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled, getppid() == parent {
                try await Task.sleep(for: ParentWatch.pollInterval)
            }
        }
    }
}
