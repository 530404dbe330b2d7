"""Three real `shoal server` processes forming one cluster on 127.0.0.1.

The `crate` Python client, connected to all three, creates a replicated
table, writes through the cluster and reads back through another node; one
process is SIGKILLed: the cluster turns YELLOW, then GREEN again without an
operator (its replicas are re-created on the other two), the client keeps
working, and no acknowledged row is lost. The killed node comes back; killed
again and back within the delayed-allocation timeout, it catches its copies
up by operations (its former primaries too). A join too large to broadcast
is split among the three processes. Then another is decommissioned: its
shards move away and its process stops itself.
"""

import pytest
from crate import client

from shoal_cluster import health, scalar, started, wait


@pytest.fixture(scope="module")
def cluster():
    c = started()
    yield c
    c.stop()


def test_a_replicated_table_survives_a_sigkill(cluster):
    # The first statement waits for the cluster to have formed.
    conn = client.connect(cluster.urls(), error_trace=True, timeout=30)
    cur = conn.cursor()

    def create():
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) CLUSTERED INTO 6 SHARDS "
                    "WITH (number_of_replicas = 1, "
                    "\"unassigned.node_left.delayed_timeout\" = '2s')")
        return True
    wait("CREATE TABLE on a formed cluster", create, cluster=cluster)
    wait("health GREEN", lambda: health(cluster.url(0)) == "GREEN", cluster=cluster)

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
    wait("health YELLOW", lambda: health(cluster.url(0)) == "YELLOW", cluster=cluster)
    # The client, still given all three hosts, keeps working.
    for i in range(300, 400):
        try:
            cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (i, i))
            acknowledged.append(i)
        except Exception:
            pass
    assert len(acknowledged) >= 390, len(acknowledged)
    wait("health GREEN again", lambda: health(cluster.url(0)) == "GREEN", timeout=90,
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


def test_a_node_back_within_the_delay_catches_up_by_operations(cluster):
    cluster.start(2)
    nodes = "SELECT count(*) FROM sys.nodes"
    wait("n3 back in the cluster", lambda: scalar(cluster.url(0), nodes) == 3, cluster=cluster)
    wait("health GREEN", lambda: health(cluster.url(0)) == "GREEN", timeout=90, cluster=cluster)
    cur = client.connect(cluster.url(0), error_trace=True, timeout=30).cursor()
    cur.execute("CREATE TABLE w (id INT PRIMARY KEY, v INT) CLUSTERED INTO 6 SHARDS "
                "WITH (number_of_replicas = 1, "
                "\"unassigned.node_left.delayed_timeout\" = '5m')")
    cur.executemany("INSERT INTO w (id, v) VALUES (?, ?)", [(i, i) for i in range(200)])
    wait("health GREEN", lambda: health(cluster.url(0)) == "GREEN", cluster=cluster)
    on_n3 = ("SELECT count(*) FROM sys.shards WHERE table_name = 'w' "
             "AND node['name'] = 'n3' AND \"primary\"")
    assert scalar(cluster.url(0), on_n3) > 0, "n3 holds primaries of w"

    # n3 dies; its primaries' replicas take over, its copies wait for it.
    cluster.kill(2)
    wait("health YELLOW", lambda: health(cluster.url(0)) == "YELLOW", cluster=cluster)
    cur.executemany("INSERT INTO w (id, v) VALUES (?, ?)", [(i, i) for i in range(200, 300)])
    cluster.start(2)
    wait("health GREEN with n3 back", lambda: health(cluster.url(0)) == "GREEN", timeout=90,
          cluster=cluster)
    # Every copy back on n3 kept its own files and replayed what it missed:
    # nothing of its segments was received again (its former primaries too).
    cur.execute("SELECT recovery['stage'], recovery['files']['used'] = "
                "recovery['files']['reused'], recovery['size']['recovered'] "
                "FROM sys.shards WHERE table_name = 'w' AND node['name'] = 'n3'")
    copies = cur.fetchall()
    assert len(copies) == 4, copies
    assert all(c == ["DONE", True, 0] for c in copies), copies
    for i in range(3):
        c = client.connect(cluster.url(i)).cursor()
        c.execute("REFRESH TABLE w")
        c.execute("SELECT count(*), sum(v) FROM w")
        assert c.fetchone() == [300, sum(range(300))]
    cur.execute("DROP TABLE w")


def test_a_join_too_large_to_broadcast_is_split_among_the_processes(cluster):
    cur = client.connect(cluster.url(0), error_trace=True, timeout=30).cursor()
    for table, shards in (("ja", 4), ("jb", 3)):
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, k INT) "
                    f"CLUSTERED INTO {shards} SHARDS WITH (number_of_replicas = 0)")
    a = [(i, None if i % 17 == 0 else i % 13) for i in range(1, 301)]
    b = [(i, None if i % 19 == 0 else i % 11) for i in range(1, 201)]
    cur.executemany("INSERT INTO ja (id, k) VALUES (?, ?)", a)
    cur.executemany("INSERT INTO jb (id, k) VALUES (?, ?)", b)
    cur.execute("REFRESH TABLE ja, jb")
    wait("health GREEN", lambda: health(cluster.url(0)) == "GREEN", cluster=cluster)

    def partners(k, other):
        return 0 if k is None else sum(1 for _, o in other if o == k)
    inner = sum(partners(k, b) for _, k in a)
    expected = {
        "LEFT JOIN": inner + sum(1 for _, k in a if partners(k, b) == 0),
        "FULL JOIN": inner + sum(1 for _, k in a if partners(k, b) == 0)
        + sum(1 for _, k in b if partners(k, a) == 0),
        "JOIN": inner,
    }
    cur.execute('SET GLOBAL TRANSIENT "shoal.join.broadcast_rows" = 0')
    for i in range(3):
        c = client.connect(cluster.url(i), error_trace=True, timeout=30).cursor()
        for join, want in expected.items():
            c.execute(f"SELECT count(*) FROM ja {join} jb ON ja.k = jb.k")
            assert c.fetchone() == [want], (join, i)
    cur.execute("EXPLAIN ANALYZE SELECT count(*) FROM ja JOIN jb ON ja.k = jb.k")
    assert "INNER join repartitioned to 3 nodes" in str(cur.fetchone())
    cur.execute('RESET GLOBAL "shoal.join.broadcast_rows"')
    cur.execute("DROP TABLE ja")
    cur.execute("DROP TABLE jb")


def test_a_decommissioned_node_is_drained_and_stops_itself(cluster):
    wait("n3 in the cluster",
          lambda: scalar(cluster.url(0), "SELECT count(*) FROM sys.nodes") == 3,
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
    wait("n2 holding shards of u", lambda: scalar(cluster.url(0), on_n2) > 0, cluster=cluster)

    cur.execute("ALTER CLUSTER DECOMMISSION 'n2'")
    wait("n2 stopping itself", lambda: cluster.procs[1].poll() is not None, timeout=90,
          cluster=cluster)
    assert cluster.procs[1].returncode == 0, cluster.logs()
    assert "decommissioned" in cluster.logs()
    wait("two nodes left",
          lambda: scalar(cluster.url(0), "SELECT count(*) FROM sys.nodes") == 2,
          cluster=cluster)
    wait("health GREEN", lambda: health(cluster.url(0)) == "GREEN", cluster=cluster)
    for i in (0, 2):
        assert scalar(cluster.url(i), "SELECT count(*) FROM u") == 60
