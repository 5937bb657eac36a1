import Foundation
import Logging

/// The logger of a running node: level from `LOG_LEVEL` (default info).
enum RunnerLogger {
    static func make(label: String = "tally") -> Logger {
        var logger = Logger(label: label)
        logger.logLevel =
            ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        return logger
    }

    /// Writes one line to standard output at once (tests and scripts read the listening address from it).
    static func announce(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
