import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TallyCore

/// Grows or shrinks a `tally local` cluster to the number of workers asked for: once the coordinator answers, adds
/// each new worker through the public API (`POST /api/v1/cluster/workers`) and waits until its move is done, or drains
/// each worker to remove (`DELETE /api/v1/cluster/workers/{name}`) and waits until it has left, one at a time.
struct LocalResize: Service {
    /// Workers to add, with their URLs, in order.
    let adding: [(name: String, url: String)]
    /// Workers to drain, in order.
    let draining: [String]
    let api: APIClient
    let logger: Logger
    /// Pause between two looks at the coordinator (answering yet, move done, worker gone).
    static let pollInterval = Duration.milliseconds(200)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for worker in adding {
                guard await add(worker) else { return }
            }
            for worker in draining {
                guard await drain(worker) else { return }
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
                if let json = try? await api.clusterStatus(), json["move"]?["id"]?.stringValue != moveID {
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
            try? await Task.sleep(for: LocalResize.pollInterval)
        }
        return false
    }

    /// Drains one worker and waits until it has left the cluster; false when cancelled first or refused.
    private func drain(_ worker: String) async -> Bool {
        var requested = false
        while !Task.isCancelled {
            if requested {
                if let json = try? await api.clusterStatus(),
                    json["workers"]?.arrayValue?.contains(where: { $0["name"]?.stringValue == worker }) == false
                {
                    logger.notice(
                        "worker drained: it holds nothing and is not started again; its folder can be deleted",
                        metadata: ["worker": "\(worker)"])
                    return true
                }
            } else if let reply = try? await api.send(.DELETE, "/api/v1/cluster/workers/\(worker)") {
                if reply.status == 202 || reply.status == 200 {
                    requested = true
                    logger.info("draining worker", metadata: ["worker": "\(worker)"])
                } else if reply.status == 404 {
                    return true
                } else if reply.status != 409 || reply.body.contains("last-worker") {
                    logger.error(
                        "the coordinator refused to drain the worker",
                        metadata: ["worker": "\(worker)", "status": "\(reply.status)", "body": "\(reply.body)"])
                    return false
                }
            }
            try? await Task.sleep(for: LocalResize.pollInterval)
        }
        return false
    }
}
