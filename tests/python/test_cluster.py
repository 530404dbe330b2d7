"""Three real `shoal server` processes forming one cluster on 127.0.0.1.

The `crate` Python client, connected to all three, creates a replicated
table, writes through the cluster and reads back through another node; one
process is SIGKILLed: the cluster turns YELLOW, then GREEN again without an
operator (its replicas are re-created on the other two), the client keeps
working, and no acknowledged row is lost. The killed node comes back; then
another is decommissioned: its shards move away and its process stops
itself.
"""

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
    def __init__(self, binary, size=3):
        self.root = tempfile.mkdtemp(prefix="shoal-cluster-")
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
             "--node-name", name, "--cluster-name", "pytest-cluster"],
            stdout=subprocess.DEVNULL, stderr=log)

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


def _wait(what, check, timeout=60, cluster=None):
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


@pytest.fixture(scope="module")
def cluster():
    binary = os.environ.get("SHOAL_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("SHOAL_BIN is not set to a built shoal binary")
    c = Cluster(binary)
    for i in range(3):
        _wait(f"node {i + 1} answering HTTP",
              lambda i=i: urllib.request.urlopen(c.url(i) + "/", timeout=1), cluster=c)
    yield c
    c.stop()


def _scalar(url, sql):
    conn = client.connect(url)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]
    finally:
        conn.close()


def _health(url):
    return _scalar(url, "SELECT health FROM sys.cluster_health")


def test_a_replicated_table_survives_a_sigkill(cluster):
    # The first statement waits for the cluster to have formed.
    conn = client.connect(cluster.urls(), error_trace=True, timeout=30)
    cur = conn.cursor()

    def create():
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) CLUSTERED INTO 6 SHARDS "
                    "WITH (number_of_replicas = 1, "
                    "\"unassigned.node_left.delayed_timeout\" = '2s')")
        return True
    _wait("CREATE TABLE on a formed cluster", create, cluster=cluster)
    _wait("health GREEN", lambda: _health(cluster.url(0)) == "GREEN", cluster=cluster)

    acknowledged = []
    for start in range(0, 300, 30):
        rows = [(i, i) for i in range(start, start + 30)]
        results = cur.executemany("INSERT INTO t (id, v) VALUES (?, ?)", rows)
        acknowledged += [r[0] for r, res in zip(rows, results) if res["rowcount"] == 1]
    assert len(acknowledged) == 300

    # Written through one node, read through another.
    other = client.connect(cluster.url(1)).cursor()
    other.execute("REFRESH TABLE t")
    other.execute("SELECT count(*), sum(v) FROM t")
    assert other.fetchone() == [300, sum(range(300))]

    cluster.kill(2)
    _wait("health YELLOW", lambda: _health(cluster.url(0)) == "YELLOW", cluster=cluster)
    # The client, still given all three hosts, keeps working.
    for i in range(300, 400):
        try:
            cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (i, i))
            acknowledged.append(i)
        except Exception:
            pass
    assert len(acknowledged) >= 390, len(acknowledged)
    _wait("health GREEN again", lambda: _health(cluster.url(0)) == "GREEN", timeout=90,
          cluster=cluster)

    for url in cluster.urls()[:2]:
        c = client.connect(url).cursor()
        c.execute("REFRESH TABLE t")
        c.execute("SELECT id FROM t ORDER BY id LIMIT 10000")
        present = {r[0] for r in c.fetchall()}
        lost = sorted(set(acknowledged) - present)
        assert not lost, f"acknowledged rows lost through {url}: {lost[:20]}"
    cur.execute("DROP TABLE t")
    conn.close()


def test_a_decommissioned_node_is_drained_and_stops_itself(cluster):
    cluster.start(2)
    _wait("n3 back in the cluster",
          lambda: _scalar(cluster.url(0), "SELECT count(*) FROM sys.nodes") == 3,
          cluster=cluster)
    cur = client.connect(cluster.url(0), error_trace=True, timeout=30).cursor()
    # Every node shows its own ports and the host's figures.
    cur.execute("SELECT name, port['http'], port['transport'], heap['max'] > 0, "
                "load['1'] >= 0, fs['total']['available'] > 0 FROM sys.nodes ORDER BY name")
    assert cur.fetchall() == [[name, cluster.http[i], cluster.transport[i], True, True, True]
                              for i, name in enumerate(cluster.names)]
    cur.execute("CREATE TABLE u (id INT) CLUSTERED INTO 6 SHARDS WITH (number_of_replicas = 0)")
    cur.executemany("INSERT INTO u (id) VALUES (?)", [(i,) for i in range(60)])
    cur.execute("REFRESH TABLE u")
    on_n2 = "SELECT count(*) FROM sys.shards WHERE table_name = 'u' AND node['name'] = 'n2'"
    _wait("n2 holding shards of u", lambda: _scalar(cluster.url(0), on_n2) > 0, cluster=cluster)

    cur.execute("ALTER CLUSTER DECOMMISSION 'n2'")
    _wait("n2 stopping itself", lambda: cluster.procs[1].poll() is not None, timeout=90,
          cluster=cluster)
    assert cluster.procs[1].returncode == 0, cluster.logs()
    assert "decommissioned" in cluster.logs()
    _wait("two nodes left",
          lambda: _scalar(cluster.url(0), "SELECT count(*) FROM sys.nodes") == 2,
          cluster=cluster)
    _wait("health GREEN", lambda: _health(cluster.url(0)) == "GREEN", cluster=cluster)
    for i in (0, 2):
        assert _scalar(cluster.url(i), "SELECT count(*) FROM u") == 60
