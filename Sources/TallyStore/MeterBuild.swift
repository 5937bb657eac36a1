/// A meter's back-fill from raw events in progress: the events with `seq` in `(doneSeq, targetSeq]` are still to
/// be aggregated. It runs in chunks of `StoreConfiguration.backfillChunkEvents` positions, each in its own
/// transaction of the aggregates file, while ingestion goes on: events after `targetSeq` are counted by the
/// ingest path from the start, so every event is counted once, by one of the two.
public struct MeterBuild: Sendable, Hashable {
    /// Which build of the meter this is (each start counts up), so a chunk read for an older build, or before the
    /// meter was rebuilt or deleted, is never applied.
    public var number: Int64
    /// The position the build started after (the events before it were never stored, or are counted).
    public var fromSeq: Int64
    /// The last position the build covers: the shard's position when the build started.
    public var targetSeq: Int64
    /// The last position already aggregated.
    public var doneSeq: Int64

    /// A build of the positions `(doneSeq, targetSeq]`, started after `fromSeq`.
    public init(number: Int64, fromSeq: Int64, targetSeq: Int64, doneSeq: Int64) {
        self.number = number
        self.fromSeq = fromSeq
        self.targetSeq = targetSeq
        self.doneSeq = doneSeq
    }

    /// Positions still to aggregate.
    public var remainingPositions: Int64 { targetSeq - doneSeq }

    /// The share of the build's positions done, from 0 to 1.
    public var progress: Double {
        targetSeq > fromSeq ? Double(doneSeq - fromSeq) / Double(targetSeq - fromSeq) : 1
    }

    /// The positions the next chunk covers: at most `chunkPositions`, ending at the target.
    public func nextChunk(chunkPositions: Int64) -> ClosedRange<Int64> {
        let last = doneSeq + min(max(chunkPositions, 1), remainingPositions)
        return (doneSeq + 1)...last
    }

    /// The build after a chunk ending at `lastSeq` was applied; nil once it reached the target.
    public func advanced(through lastSeq: Int64) -> MeterBuild? {
        guard lastSeq < targetSeq else { return nil }
        var next = self
        next.doneSeq = lastSeq
        return next
    }
}
