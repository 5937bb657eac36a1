import Foundation
import ServiceLifecycle
import Synchronization

/// Process-wide settings of a Tally server process.
enum ServerProcess {
    /// `SWIFT_BACKTRACE` for servers: after a fatal error, print a quickly symbolicated backtrace to standard error
    /// without waiting for a debugger, and exit within `timeout`, so supervisors see the exit at once.
    static let backtraceSettings =
        "enable=yes,interactive=no,timeout=5s,symbolicate=fast,threads=crashed,images=mentioned,output-to=stderr"

    /// Re-executes this process with `backtraceSettings` when `SWIFT_BACKTRACE` is not set (the runtime reads it
    /// only at start). An operator's own `SWIFT_BACKTRACE` is kept.
    static func configureCrashHandling() {
        guard ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"] == nil else { return }
        setenv("SWIFT_BACKTRACE", backtraceSettings, 1)
        var arguments = CommandLine.arguments.map { strdup($0) }
        arguments.append(nil)
        execv("/proc/self/exe", &arguments)
        for argument in arguments { free(argument) }
    }

    /// The message for a server that stopped before it listened: the address it could not bind, and why.
    static func startupFailure(address: String, _ error: any Error) -> StartupFailure {
        StartupFailure(description: "Tally could not listen on \(address): \(error)")
    }
}

/// A server that could not start; its description names the address and the cause.
struct StartupFailure: Error, CustomStringConvertible {
    var description: String
}

extension ServerProcess {
    /// Raises the open-files limit to its hard maximum, so `maxConnections` clients and the SQLite files fit.
    static func raiseOpenFilesLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// Whether a server's listener is up yet: a group that fails before it is failed to bind.
final class ListenerState: Sendable {
    private let listening = Mutex(false)
    /// The address the server binds, for messages.
    let address: String

    init(address: String) { self.address = address }

    func markListening() { listening.withLock { $0 = true } }

    /// Runs `group`; when it fails before the server listened, throws a `StartupFailure` naming the address.
    func run(_ group: ServiceGroup) async throws {
        do {
            try await group.run()
        } catch {
            guard listening.withLock({ $0 }) else { throw ServerProcess.startupFailure(address: address, error) }
            throw error
        }
    }
}
