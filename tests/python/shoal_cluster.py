"""Real `shoal server` processes forming one cluster on 127.0.0.1, for the
cluster tests: start, kill and stop nodes, wait for conditions (failing with
every node's log), and ask one node for a value."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest
from crate import client


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, binary, size=3, copy_root=False):
        self.root = tempfile.mkdtemp(prefix="shoal-cluster-")
        # One directory every node may COPY from and to (as shared storage).
        self.files = os.path.join(self.root, "files") if copy_root else None
        if self.files:
            os.mkdir(self.files)
        self.http = [_free_port() for _ in range(size)]
        self.transport = [_free_port() for _ in range(size)]
        self.names = [f"n{i + 1}" for i in range(size)]
        self.binary = binary
        self.procs = [None] * size
        for i in range(size):
            self.start(i)

    def start(self, i):
        """Starts node i (again, on its data directory)."""
        name = self.names[i]
        seeds = ",".join(f"127.0.0.1:{p}" for p in self.transport)
        log = open(os.path.join(self.root, f"{name}.log"), "a")
        self.procs[i] = subprocess.Popen(
            [self.binary, "server", "--data", os.path.join(self.root, name),
             "--http", f"127.0.0.1:{self.http[i]}",
             "--transport", f"127.0.0.1:{self.transport[i]}",
             "--seed-hosts", seeds,
             "--initial-master-nodes", ",".join(self.names),
             "--node-name", name, "--cluster-name", "pytest-cluster"]
            + (["--copy-root", self.files] if self.files else []),
            stdout=subprocess.DEVNULL, stderr=log,
            env={**os.environ, "SHOAL_LOG": "warn,shoal_engine=info"})

    def url(self, i):
        return f"http://127.0.0.1:{self.http[i]}"

    def urls(self):
        return [self.url(i) for i in range(len(self.names))]

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=30)

    def logs(self):
        out = []
        for name in self.names:
            with open(os.path.join(self.root, f"{name}.log")) as f:
                out.append(f"--- {name}\n" + f.read()[-3000:])
        return "\n".join(out)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def wait(what, check, timeout=60, cluster=None):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as e:  # the cluster may still be forming
            last = e
        time.sleep(0.2)
    logs = cluster.logs() if cluster else ""
    pytest.fail(f"{what} did not happen within {timeout}s (last error: {last})\n{logs}")


def started(**options):
    """A 3-node cluster answering HTTP on every node; skips the test when
    SHOAL_BIN does not name a built binary."""
    binary = os.environ.get("SHOAL_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("SHOAL_BIN is not set to a built shoal binary")
    c = Cluster(binary, **options)
    for i in range(3):
        wait(f"node {i + 1} answering HTTP",
             lambda i=i: urllib.request.urlopen(c.url(i) + "/", timeout=1), cluster=c)
    return c


def scalar(url, sql):
    conn = client.connect(url)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]
    finally:
        conn.close()


def health(url):
    return scalar(url, "SELECT health FROM sys.cluster_health")
