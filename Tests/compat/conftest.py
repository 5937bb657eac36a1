"""Starts a real Tally on loopback with fresh data: a single node (`tally serve`) and a local
3-worker cluster (`tally local`), so the official client is checked against both."""
import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "debug", "tally")
STARTUP_TIMEOUT_SECONDS = 30
CLUSTER_WORKERS = 3


def free_ports(count):
    """A base port such that it and the next count - 1 ports are free on loopback."""
    for base in range(21000 + os.getpid() % 997 * 20, 60000, 37):
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free ports")


def wait_ready(url):
    deadline = time.time() + STARTUP_TIMEOUT_SECONDS
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready")


def start(kind):
    """Starts a fresh single node or local cluster; yields its API URL and stops it afterwards."""
    data = tempfile.mkdtemp(prefix="tally-compat-")
    if kind == "node":
        arguments = ["serve", "--port", "0", "--data", data]
    else:
        port = free_ports(CLUSTER_WORKERS + 1)
        arguments = ["local", "--workers", str(CLUSTER_WORKERS), "--port", str(port), "--dir", data]
    process = subprocess.Popen([BINARY] + arguments, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    match = None
    while match is None:
        line = process.stdout.readline()
        assert line, "tally did not start"
        if line.startswith("Tally API listening on"):
            match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    url = f"http://127.0.0.1:{match.group(1)}"
    wait_ready(url)
    yield url
    process.terminate()
    process.wait(timeout=STARTUP_TIMEOUT_SECONDS)


@pytest.fixture(params=["node", "cluster"])
def node(request):
    """Yields the base URL of a fresh single node or cluster coordinator; stops it afterwards."""
    yield from start(request.param)


@pytest.fixture
def single_node():
    """Yields the base URL of a fresh single node (what a cluster does not serve yet: docs/api.md)."""
    yield from start("node")
