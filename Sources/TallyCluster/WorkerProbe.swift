import ServiceLifecycle

/// Probes every worker every `interval` (a round that waited for a silent worker's timeout is followed by the next at
/// once when the interval is over): records health for `/api/v1/cluster` and `/readyz`, and pushes
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
                // A round starts every `interval`, however long the last one waited for a silent worker.
                let next = ContinuousClock.now + interval
                await coordinator.probeAll()
                try await Task.sleep(until: next)
            }
        }
    }
}
