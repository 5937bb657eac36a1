import Foundation

/// A real `tally` process (the debug binary built beside the tests) on a free loopback port.
public final class NodeProcess {
    public static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/tally").path
    /// Longest wait for the node to print its address.
    public static let startupTimeoutSeconds = 30.0

    public let process: Process
    /// The URL the process printed it listens on (`http://` for nodes and coordinators, `https://` for workers).
    public let baseURL: String

    public struct StartFailure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Starts the tally binary with `arguments`, its standard output going to `output`.
    public static func launch(_ arguments: [String], output: Pipe) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs the tally binary to completion and returns its exit status and standard output.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let output = Pipe()
        let process = try launch(arguments, output: output)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Starts the binary and waits for the line starting with `announcement` (a node's or coordinator's
    /// "Tally API listening on", a worker's "Tally worker"); other lines (of child processes) are skipped.
    public init(arguments: [String], announcement: String = "Tally API listening on ") throws {
        let output = Pipe()
        process = try NodeProcess.launch(arguments, output: output)
        var buffer = Data()
        let deadline = Date().addingTimeInterval(NodeProcess.startupTimeoutSeconds)
        func announced() -> Substring? {
            String(decoding: buffer, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(announcement) }
        }
        while announced() == nil, Date() < deadline, process.isRunning {
            buffer.append(output.fileHandleForReading.availableData)
        }
        guard let line = announced(), let range = line.range(of: #"https?://127\.0\.0\.1:\d+"#, options: .regularExpression) else {
            process.terminate()
            throw StartFailure(description: "node did not start: \(String(decoding: buffer, as: UTF8.self))")
        }
        baseURL = String(line[range])
    }

    /// SIGKILL: no shutdown work runs, as in a crash or power cut of the process.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait: the graceful path.
    public func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
