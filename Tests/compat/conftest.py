"""Starts a real `tally serve` process on a free loopback port with a fresh data folder."""
import os
import re
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "debug", "tally")
STARTUP_TIMEOUT_SECONDS = 30


@pytest.fixture()
def node():
    """Yields the base URL of a fresh node; stops it afterwards."""
    data = tempfile.mkdtemp(prefix="tally-compat-")
    process = subprocess.Popen(
        [BINARY, "serve", "--port", "0", "--data", data],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, f"node did not start: {line!r}"
    yield f"http://127.0.0.1:{match.group(1)}"
    process.terminate()
    process.wait(timeout=STARTUP_TIMEOUT_SECONDS)
