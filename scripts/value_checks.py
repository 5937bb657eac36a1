#!/usr/bin/env python3
"""Entitlement value checks for scripts/bench.sh --values.

setup: creates the feature `tokens` (meter tokens_total, `--enforcement none|reject`) and, for customer-0 … customer-N-1, a metered entitlement
(MONTH periods, metering from an hour ago) with one grant, `--threads` requests at a time.
run:   `--threads` keep-alive connections each asking GET …/entitlements/tokens/value of random customers for
       `--seconds`; prints checks/s, p50/p99/max latency in ms, and the count of answers other than 200.
"""
import argparse
import datetime
import http.client
import json
import random
import threading
import time
import urllib.parse


def connection(url):
    parsed = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)


def call(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    reply = conn.getresponse()
    return reply.status, reply.read()


def setup(args):
    start = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).replace(second=0,
                                                                                                 microsecond=0)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    conn = connection(args.url)
    status, body = call(conn, "POST", "/api/v1/features",
                        {"key": "tokens", "name": "Tokens", "meterSlug": "tokens_total",
                         "enforcement": args.enforcement})
    assert status == 201, body

    def create(indices):
        own = connection(args.url)
        for index in indices:
            path = f"/api/v1/subjects/customer-{index}/entitlements"
            status, body = call(own, "POST", path, {"type": "metered", "featureKey": "tokens",
                                                     "usagePeriod": {"interval": "MONTH", "anchor": stamp},
                                                     "measureUsageFrom": stamp})
            assert status == 201, body
            status, body = call(own, "POST", path + "/tokens/grants",
                                {"amount": 1000000000, "effectiveAt": stamp,
                                 "expiration": {"duration": "YEAR", "count": 1}})
            assert status == 201, body

    threads = [threading.Thread(target=create, args=(range(t, args.customers, args.threads),))
               for t in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"entitlements_created={args.customers}")


def run(args):
    latencies = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def worker(seed):
        rng = random.Random(seed)
        conn = connection(args.url)
        mine = []
        bad = 0
        while time.monotonic() < deadline:
            path = f"/api/v1/subjects/customer-{rng.randrange(args.customers)}/entitlements/tokens/value"
            started = time.perf_counter()
            status, _ = call(conn, "GET", path)
            mine.append((time.perf_counter() - started) * 1000)
            if status != 200:
                bad += 1
        with lock:
            latencies.extend(mine)
            failures[0] += bad

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(args.threads)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()

    def pick(share):
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))]

    print(f"{args.label}_checks={len(latencies)} {args.label}_checks_per_s={len(latencies) / elapsed:.0f} "
          f"{args.label}_p50_ms={pick(0.5):.2f} {args.label}_p99_ms={pick(0.99):.2f} "
          f"{args.label}_max_ms={latencies[-1]:.2f} {args.label}_not_200={failures[0]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["setup", "run"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--label", default="values")
    parser.add_argument("--enforcement", choices=["none", "reject"], default="none")
    args = parser.parse_args()
    setup(args) if args.mode == "setup" else run(args)


if __name__ == "__main__":
    main()
