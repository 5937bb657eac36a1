import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the worker processes of `tally local` and keeps them running: a worker that exits while the cluster is
/// not shutting down is started again after a backoff (doubling from `initialBackoff` to `maxBackoff`, back to
/// the start once a worker stayed up for `stableUptime`). On graceful shutdown every worker gets SIGTERM and is
/// waited for. Each worker watches this process and stops by itself if it dies (`--exit-with-parent`).
struct WorkerSupervisor: Service {
    /// One worker: its name and the arguments that start it.
    struct Worker: Sendable {
        var name: String
        var arguments: [String]
    }

    static let initialBackoff = Duration.seconds(1)
    static let maxBackoff = Duration.seconds(30)
    static let stableUptime = Duration.seconds(60)

    let executable: String
    let workers: [Worker]
    let logger: Logger

    func run() async throws {
        let running = RunningChildren()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for worker in workers {
                        group.addTask { await supervise(worker, running: running) }
                    }
                }
            } onGracefulShutdown: {
                running.stopAll()
            }
        } onCancel: {
            running.stopAll()
        }
    }

    private func supervise(_ worker: Worker, running: RunningChildren) async {
        var backoff = WorkerSupervisor.initialBackoff
        while !running.isStopping {
            let started = ContinuousClock.now
            let status: Int32
            do {
                status = try await running.launch(
                    executable: executable, arguments: worker.arguments, name: worker.name)
            } catch {
                logger.error("could not start worker", metadata: ["worker": "\(worker.name)", "error": "\(error)"])
                status = -1
            }
            guard !running.isStopping else { return }
            if ContinuousClock.now - started >= WorkerSupervisor.stableUptime {
                backoff = WorkerSupervisor.initialBackoff
            }
            logger.warning(
                "worker exited; restarting",
                metadata: [
                    "worker": "\(worker.name)", "status": "\(status)", "restartIn": "\(backoff)",
                ])
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, WorkerSupervisor.maxBackoff)
        }
    }
}

/// The running child processes, so a graceful shutdown can stop them all.
private final class RunningChildren: Sendable {
    private struct State {
        var processes: [String: Process] = [:]
        var stopping = false
    }

    private let state = Mutex(State())

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Starts a child and returns its exit status once it exited.
    func launch(executable: String, arguments: [String], name: String) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
            do {
                let started = try state.withLock { state -> Bool in
                    guard !state.stopping else { return false }
                    try process.run()
                    state.processes[name] = process
                    return true
                }
                if !started { continuation.resume(returning: 0) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Sends SIGTERM to every child; their supervisors then return.
    func stopAll() {
        let processes = state.withLock { state in
            state.stopping = true
            return Array(state.processes.values)
        }
        for process in processes where process.isRunning { process.terminate() }
    }
}
