import Foundation
import Synchronization

/// A real `tally` process (the debug binary built beside the tests) on a free loopback port.
public final class NodeProcess {
    public static let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/tally").path
    /// Longest wait for the node to print its address.
    public static let startupTimeoutSeconds = 30.0

    public let process: Process
    /// The URL the process printed it listens on (`http://` for nodes and coordinators, `https://` for workers).
    public let baseURL: String
    /// Where the process's standard error goes, so a test can say why a process died.
    public let errorLog: String

    public struct StartFailure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Starts the tally binary with `arguments`, its standard output going to `output` and its standard error
    /// to the file `errorLog`.
    public static func launch(_ arguments: [String], output: Pipe, errorLog: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        process.arguments = arguments
        process.standardOutput = output
        _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errorLog)
        try process.run()
        return process
    }

    /// A fresh file for a process's standard error.
    static func newErrorLog() -> String { NSTemporaryDirectory() + "tally-stderr-\(UUID().uuidString).log" }

    /// Runs the tally binary to completion and returns its exit status, standard output and standard error.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let output = Pipe()
        let errorLog = newErrorLog()
        let process = try launch(arguments, output: output, errorLog: errorLog)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let error = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), error)
    }

    /// Starts the binary and waits for the line starting with `announcement` (a node's or coordinator's
    /// "Tally API listening on", a worker's "Tally worker"); other lines (of child processes) are skipped.
    /// The output is read as it arrives, so the deadline holds even for a process that prints nothing.
    public init(arguments: [String], announcement: String = "Tally API listening on ") throws {
        let output = Pipe()
        errorLog = NodeProcess.newErrorLog()
        process = try NodeProcess.launch(arguments, output: output, errorLog: errorLog)
        let buffer = Mutex(Data())
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { buffer.withLock { $0.append(data) } }
        }
        let deadline = Date().addingTimeInterval(NodeProcess.startupTimeoutSeconds)
        func announced() -> Substring? {
            buffer.withLock { String(decoding: $0, as: UTF8.self) }.split(separator: "\n").first {
                $0.hasPrefix(announcement)
            }
        }
        while announced() == nil, Date() < deadline, process.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        guard let line = announced(),
            let range = line.range(of: #"https?://127\.0\.0\.1:\d+"#, options: .regularExpression)
        else {
            process.terminate()
            let printed = buffer.withLock { String(decoding: $0, as: UTF8.self) }
            let errors = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
            throw StartFailure(description: "node did not start: \(printed)\n\(errors.suffix(2000))")
        }
        baseURL = String(line[range])
    }

    /// What the process wrote to standard error so far.
    public var errors: String { (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "" }

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
