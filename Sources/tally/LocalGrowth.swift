import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TallyCore

/// Grows a `tally local` cluster to the number of workers asked for: once the coordinator answers, adds each new
/// worker through the public API (`POST /api/v1/cluster/workers`) and waits until its move is done, one at a time.
struct LocalGrowth: Service {
    /// Workers to add, with their URLs, in order.
    let workers: [(name: String, url: String)]
    let api: APIClient
    let logger: Logger
    /// Pause between two looks at the coordinator (answering yet, move done).
    static let pollInterval = Duration.milliseconds(200)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for worker in workers {
                guard await add(worker) else { return }
            }
        }
        try? await gracefulShutdown()
    }

    /// Adds one worker and waits for its move; false when cancelled first.
    private func add(_ worker: (name: String, url: String)) async -> Bool {
        let request = Array(
            JSONWriter.string(.object(["name": .string(worker.name), "url": .string(worker.url)])).utf8)
        var moveID: String?
        while !Task.isCancelled {
            if let moveID {
                if let status = try? await api.send(.GET, "/api/v1/cluster"), status.status == 200,
                    let json = try? JSONParser.parse(status.body), json["move"]?["id"]?.stringValue != moveID
                {
                    logger.info("worker added", metadata: ["worker": "\(worker.name)", "move": "\(moveID)"])
                    return true
                }
            } else if let reply = try? await api.send(
                .POST, "/api/v1/cluster/workers", contentType: "application/json", body: request)
            {
                if reply.status == 202 {
                    moveID = (try? JSONParser.parse(reply.body))?["id"]?.stringValue
                    logger.info("adding worker", metadata: ["worker": "\(worker.name)", "move": "\(moveID ?? "?")"])
                } else if reply.status == 409, reply.body.contains("worker-exists") {
                    return true
                } else if reply.status != 409 {
                    logger.error(
                        "the coordinator refused the new worker",
                        metadata: ["worker": "\(worker.name)", "status": "\(reply.status)", "body": "\(reply.body)"])
                    return false
                }
            }
            try? await Task.sleep(for: LocalGrowth.pollInterval)
        }
        return false
    }
}
