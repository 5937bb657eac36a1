import ServiceLifecycle

/// Probes every worker every `interval`: records health for `/api/v1/cluster` and `/readyz`, and pushes
/// the assignment to workers that are behind (a worker that was down catches up this way).
public struct WorkerProbe: Service {
    let coordinator: Coordinator
    let interval: Duration

    public init(coordinator: Coordinator, interval: Duration) {
        self.coordinator = coordinator
        self.interval = interval
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await coordinator.probeAll()
                try await Task.sleep(for: interval)
            }
        }
    }
}
