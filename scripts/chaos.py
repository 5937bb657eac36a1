#!/usr/bin/env python3
"""Chaos run against a local Tally cluster: a random schedule of faults under continuous ingest, then a verdict.

Starts `tally local` (3 workers, replication factor 2) in a fresh folder, sends batches of unique events from
several clients (each batch retried with the same ids until it is acknowledged), and every few seconds injects one
fault once the cluster has healed from the last: kill -9 of a worker (the local supervisor restarts it), SIGSTOP of
a worker past the failure timeout then SIGCONT, kill -9 of a worker with its data folder deleted, or a drain of a
worker followed by adding it back empty. At the end it checks, per customer, that the events and tokens counted
through the coordinator equal those acknowledged (never fewer; more only by batches never acknowledged) and that
the replica stores hold as many events as the primary stores. Prints the verdict; exits 1 when it fails.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

CUSTOMERS = [f"customer-{i}" for i in range(200)]
BATCH_EVENTS = 20
CLIENTS = 4
BATCH_DEADLINE_SECONDS = 120
HEAL_DEADLINE_SECONDS = 180
FAULT_NOTICE_SECONDS = 4
TIME = "2026-03-02T12:00:00Z"
RANGE = "from=2026-03-01T00:00:00Z&to=2026-03-05T00:00:00Z&groupBy=subject"


def log(message):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def request(method, url, body=None, timeout=30):
    data = None if body is None else body.encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)


def free_base_port(workers):
    while True:
        base = random.randint(20000, 50000)
        try:
            sockets = []
            for offset in range(workers + 4):
                s = socket.socket()
                s.bind(("127.0.0.1", base + offset))
                sockets.append(s)
            for s in sockets:
                s.close()
            return base
        except OSError:
            for s in sockets:
                s.close()


class Tally:
    """Acknowledged and possibly stored events per customer, shared by the clients."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = {}
        self.unacknowledged = {}
        self.batches = 0

    def add(self, table, events):
        with self.lock:
            for subject, tokens in events:
                count, total = table.get(subject, (0, 0))
                table[subject] = (count + 1, total + tokens)


def client(api, number, stop, tally, rng):
    batch = 0
    while not stop.is_set():
        events = [(rng.choice(CUSTOMERS), rng.randint(1, 9)) for _ in range(BATCH_EVENTS)]
        body = json.dumps([
            {"specversion": "1.0", "id": f"c{number}-b{batch}-{i}", "source": "chaos", "type": "usage",
             "subject": subject, "time": TIME, "data": {"tokens": tokens}}
            for i, (subject, tokens) in enumerate(events)])
        deadline = time.time() + BATCH_DEADLINE_SECONDS
        while True:
            status, _ = request("POST", api + "/api/v1/events", body, timeout=60)
            if status == 204:
                tally.add(tally.acknowledged, events)
                with tally.lock:
                    tally.batches += 1
                break
            if time.time() > deadline:
                log(f"client {number}: batch {batch} not acknowledged within {BATCH_DEADLINE_SECONDS} s")
                tally.add(tally.unacknowledged, events)
                break
            time.sleep(0.1)
        batch += 1


class Cluster:
    def __init__(self, binary, folder, port, workers):
        self.folder = folder
        self.api = f"http://127.0.0.1:{port}"
        self.port = port
        self.workers = [f"w{i}" for i in range(1, workers + 1)]
        self.output = open(os.path.join(folder, "local.log"), "w")
        self.process = subprocess.Popen(
            [binary, "local", "--workers", str(workers), "--port", str(port), "--dir", folder + "/.tally"],
            stdout=self.output, stderr=subprocess.STDOUT)

    def status(self):
        code, body = request("GET", self.api + "/api/v1/cluster")
        return json.loads(body) if code == 200 else None

    def pid(self, worker):
        """The process of `worker` (found by its command line in /proc), or None while it is not running."""
        wanted = ["worker", "--name", worker, "--port", str(self.port + int(worker[1:]))]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as file:
                    arguments = file.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if arguments[1:6] == wanted:
                return int(entry)
        return None

    def healed(self, factor=2):
        status = self.status()
        if not status or status["move"] is not None or status.get("drain") is not None or status.get("settling"):
            return False
        workers = status["workers"]
        return (len(workers) == len(self.workers) and status["minimumCopies"] == factor
                and all(w["state"] == "up" and not w["lost"] for w in workers))

    def wait_healed(self):
        deadline = time.time() + HEAL_DEADLINE_SECONDS
        while time.time() < deadline:
            if self.healed():
                return True
            time.sleep(0.5)
        return False

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.output.close()


def signal_worker(cluster, worker, sig):
    pid = cluster.pid(worker)
    if pid:
        os.kill(pid, sig)
    return pid


def fault_kill(cluster, worker):
    signal_worker(cluster, worker, signal.SIGKILL)


def fault_pause(cluster, worker):
    signal_worker(cluster, worker, signal.SIGSTOP)
    time.sleep(8)
    signal_worker(cluster, worker, signal.SIGCONT)


def fault_wipe(cluster, worker):
    pid = signal_worker(cluster, worker, signal.SIGKILL)
    # The supervisor restarts it after a second: delete its folder once the killed process is gone.
    while pid and os.path.exists(f"/proc/{pid}") and cluster.pid(worker) == pid:
        time.sleep(0.02)
    shutil.rmtree(os.path.join(cluster.folder, ".tally", worker), ignore_errors=True)


def fault_drain_and_add(cluster, worker):
    code, body = request("DELETE", f"{cluster.api}/api/v1/cluster/workers/{worker}")
    if code != 202:
        raise RuntimeError(f"drain of {worker} answered {code}: {body}")
    deadline = time.time() + HEAL_DEADLINE_SECONDS
    while time.time() < deadline:
        status = cluster.status()
        if status and all(w["name"] != worker for w in status["workers"]):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"{worker} was not drained within {HEAL_DEADLINE_SECONDS} s")
    fault_wipe(cluster, worker)
    url = f"https://127.0.0.1:{cluster.port + int(worker[1:])}"
    deadline = time.time() + 60
    while True:
        code, body = request("POST", cluster.api + "/api/v1/cluster/workers", json.dumps({"name": worker, "url": url}))
        if code == 202:
            return
        if time.time() > deadline:
            raise RuntimeError(f"adding {worker} back answered {code}: {body}")
        time.sleep(1)


FAULTS = {"kill -9": fault_kill, "SIGSTOP 8 s": fault_pause, "kill -9 + wiped folder": fault_wipe,
          "drain + add back": fault_drain_and_add}


def counted(cluster):
    result = {}
    for slug in ("calls", "tokens"):
        deadline = time.time() + HEAL_DEADLINE_SECONDS
        while True:
            code, body = request("GET", f"{cluster.api}/api/v1/meters/{slug}/query?{RANGE}", timeout=120)
            # After a worker was added, its sources rebuild their meters: they answer 503 meter-building meanwhile.
            if code != 503 or time.time() > deadline:
                break
            time.sleep(1)
        if code != 200:
            raise RuntimeError(f"query of {slug} answered {code}: {body}")
        for row in json.loads(body)["data"]:
            count, tokens = result.get(row["subject"], (0, 0))
            value = int(float(row["value"]))
            result[row["subject"]] = (value, tokens) if slug == "calls" else (count, value)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--binary", required=True)
    arguments = parser.parse_args()
    seed = arguments.seed if arguments.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    folder = tempfile.mkdtemp(prefix="tally-chaos-")
    cluster = Cluster(arguments.binary, folder, free_base_port(3), 3)
    log(f"seed {seed}; cluster in {folder}, API {cluster.api}")
    stop = threading.Event()
    tally = Tally()
    clients = []
    verdict = False
    try:
        if not cluster.wait_healed():
            raise RuntimeError("the cluster did not start")
        for meter in ('{"slug":"calls","aggregation":"COUNT","eventType":"usage"}',
                      '{"slug":"tokens","aggregation":"SUM","eventType":"usage","valueProperty":"$.tokens"}'):
            code, body = request("POST", cluster.api + "/api/v1/meters", meter)
            if code != 201:
                raise RuntimeError(f"creating a meter answered {code}: {body}")
        clients = [threading.Thread(target=client, args=(cluster.api, n, stop, tally, random.Random(seed + n)))
                   for n in range(CLIENTS)]
        for thread in clients:
            thread.start()
        end = time.time() + arguments.minutes * 60
        faults = 0
        while time.time() < end:
            time.sleep(rng.uniform(2, 5))
            name = rng.choice(sorted(FAULTS))
            worker = rng.choice(cluster.workers)
            log(f"fault {faults + 1}: {name} on {worker} ({tally.batches} batches acknowledged so far)")
            FAULTS[name](cluster, worker)
            faults += 1
            # Probes (every second) notice a restarted or wiped worker within a few seconds: heal after that.
            time.sleep(FAULT_NOTICE_SECONDS)
            if not cluster.wait_healed():
                raise RuntimeError(f"the cluster did not heal within {HEAL_DEADLINE_SECONDS} s after {name}")
            log("healed: every worker up, every slot with 2 copies, no move")
        time.sleep(2)
        stop.set()
        for thread in clients:
            thread.join()
        if not cluster.wait_healed():
            raise RuntimeError("the cluster did not heal at the end")
        found = counted(cluster)
        problems = []
        for subject in sorted(set(found) | set(tally.acknowledged) | set(tally.unacknowledged)):
            acked = tally.acknowledged.get(subject, (0, 0))
            maybe = tally.unacknowledged.get(subject, (0, 0))
            got = found.get(subject, (0, 0))
            if not (acked[0] <= got[0] <= acked[0] + maybe[0]) or (maybe == (0, 0) and got != acked):
                problems.append(f"{subject}: counted {got}, acknowledged {acked}, unacknowledged {maybe}")
        deadline = time.time() + 60
        while True:
            status = cluster.status()
            primary = sum(w["eventsStored"] or 0 for w in status["workers"])
            replica = sum(w["replicaEventsStored"] or 0 for w in status["workers"])
            acked_events = sum(count for count, _ in tally.acknowledged.values())
            if primary == replica == acked_events or time.time() > deadline:
                break
            time.sleep(0.5)
        if not primary == replica:
            problems.append(f"the primary stores hold {primary} events, the replica stores {replica}")
        mismatches = status["antiEntropy"]["mismatches"]
        log(f"{faults} faults, {tally.batches} batches ({acked_events} events) acknowledged, "
            f"{sum(c for c, _ in tally.unacknowledged.values())} unacknowledged; stored {primary} primary, "
            f"{replica} replica; anti-entropy mismatches {mismatches}; {len(found)} customers counted")
        for problem in problems[:20]:
            log("FAIL " + problem)
        verdict = not problems
    except Exception as error:  # noqa: BLE001 - any failure of the run is the verdict
        log(f"FAIL {error}")
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=BATCH_DEADLINE_SECONDS + 10)
        cluster.stop()
    log(f"VERDICT: {'PASS' if verdict else 'FAIL'} (seed {seed}; log in {folder}/local.log)")
    if verdict:
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
