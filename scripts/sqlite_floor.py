#!/usr/bin/env python3
"""What SQLite alone costs for the events file's writes on real-time traffic, without Tally: inserts of raw events
(random UUIDv4 ids, 100,000 random customers, times that grow) into the events file's schema with and without its
random-keyed indexes, `synchronous=FULL`, WAL, 3,200 events per transaction. Run by `scripts/bench.sh --sqlite-floor`.

Usage: scripts/sqlite_floor.py [EVENTS] [EVENTS_PER_TRANSACTION]
"""
import hashlib
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid

BODY = ('{"id":"%s","source":"loadgen","specversion":"1.0","type":"request","subject":"%s",'
        '"time":"2026-11-27T10:00:00Z","data":{"tokens":123,"model":"gpt-4o","duration_ms":42,"user":"user-77"}}')
VARIANTS = {
    "events + time index + (customer, time) index + de-dup keys (Tally's schema)": (True, True),
    "without the (customer, time) index": (False, True),
    "without the de-dup keys": (True, False),
    "without both": (False, False),
}


def run(folder, by_subject, dedup, events, per_transaction):
    path = os.path.join(folder, "floor-%d-%d.sqlite" % (by_subject, dedup))
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ["journal_mode=WAL", "synchronous=FULL", "cache_size=-65536", "wal_autocheckpoint=10000"]:
        db.execute("PRAGMA " + pragma)
    db.execute("CREATE TABLE events(seq INTEGER PRIMARY KEY, subject TEXT NOT NULL, source TEXT NOT NULL, "
               "event_id TEXT NOT NULL, type TEXT NOT NULL, time_us INTEGER NOT NULL, ingested_us INTEGER NOT NULL, "
               "body TEXT NOT NULL)")
    db.execute("CREATE INDEX events_time ON events(time_us)")
    if by_subject:
        db.execute("CREATE INDEX events_subject_time ON events(subject, time_us)")
    if dedup:
        db.execute("CREATE TABLE dedup_keys(key BLOB PRIMARY KEY NOT NULL, seq INTEGER NOT NULL, "
                   "ingested_us INTEGER NOT NULL) WITHOUT ROWID")
    generator = random.Random(1)
    start, seq, origin = time.time(), 0, 1_800_000_000_000_000
    while seq < events:
        rows, keys = [], []
        for _ in range(per_transaction):
            seq += 1
            event_id = str(uuid.UUID(int=generator.getrandbits(128), version=4))
            subject = "customer-%d" % generator.randrange(100_000)
            now = origin + seq * 100
            rows.append((seq, subject, "loadgen", event_id, "request", now, now, BODY % (event_id, subject)))
            keys.append((hashlib.blake2b(event_id.encode(), digest_size=16).digest(), seq, now))
        db.execute("BEGIN IMMEDIATE")
        if dedup:
            db.executemany("INSERT OR IGNORE INTO dedup_keys VALUES (?, ?, ?)", keys)
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    seconds = time.time() - start
    db.close()
    return events / seconds


def main():
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 600_000
    per_transaction = int(sys.argv[2]) if len(sys.argv) > 2 else 3_200
    with tempfile.TemporaryDirectory(prefix="tally-sqlite-floor.") as folder:
        for name, (by_subject, dedup) in VARIANTS.items():
            rate = run(folder, by_subject, dedup, events, per_transaction)
            print("sqlite_floor %s: %.0f events/s (%.1f µs/event) over %d events" % (name, rate, 1e6 / rate, events))


if __name__ == "__main__":
    main()
