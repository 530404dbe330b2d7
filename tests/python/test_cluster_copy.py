"""COPY on a 3-process cluster, as CrateDB runs it: every node reads the
files under the URI on its own file system (here one directory all three
may use, like shared storage), `shared = true` splits the files so each is
read once, `node_filters` and `num_readers` choose the readers, and
`COPY TO` has each shard exported once, by a node holding it.
"""

import json
import os
import re

import pytest
from crate import client

from shoal_cluster import health, scalar, started, wait


@pytest.fixture(scope="module")
def cluster():
    c = started(copy_root=True)
    yield c
    c.stop()


def _summary(cur, sql):
    cur.execute(sql)
    return sorted((row[0]["name"], row[1], row[2], row[3]) for row in cur.fetchall())


def test_copy_runs_on_every_node(cluster):
    cur = client.connect(cluster.urls(), error_trace=True, timeout=30).cursor()

    def create():
        cur.execute("CREATE TABLE t (id INT, v TEXT) CLUSTERED INTO 6 SHARDS "
                    "WITH (number_of_replicas = 1)")
        return True
    wait("CREATE TABLE on a formed cluster", create, cluster=cluster)
    wait("health GREEN", lambda: health(cluster.url(0)) == "GREEN", cluster=cluster)

    inbox = os.path.join(cluster.files, "in")
    os.mkdir(inbox)
    for f in range(3):
        with open(os.path.join(inbox, f"part-{f}.json"), "w") as out:
            for i in range(f * 10, f * 10 + 10):
                out.write(json.dumps({"id": i, "v": f"row {i}"}) + "\n")
    files = [f"file://{inbox}/part-{f}.json" for f in range(3)]

    # Shared storage: the three files are split over the three nodes.
    summary = _summary(cur, f"COPY t FROM 'file://{inbox}/*.json' WITH (shared = true) "
                            "RETURN SUMMARY")
    assert [(name, count, errors) for name, _, count, errors in summary] == \
        [("n1", 10, 0), ("n2", 10, 0), ("n3", 10, 0)]
    assert sorted(uri for _, uri, _, _ in summary) == files
    cur.execute("REFRESH TABLE t")
    assert scalar(cluster.url(1), "SELECT count(DISTINCT id) FROM t") == 30

    # Not shared: every node reads the file its own file system has.
    summary = _summary(cur, f"COPY t FROM '{files[0]}' RETURN SUMMARY")
    assert summary == [(n, files[0], 10, 0) for n in ("n1", "n2", "n3")]
    # node_filters and num_readers choose the readers.
    summary = _summary(cur, f"COPY t FROM '{files[1]}' WITH (node_filters = {{name = 'n2'}}) "
                            "RETURN SUMMARY")
    assert summary == [("n2", files[1], 10, 0)]
    cur.execute(f"COPY t FROM '{files[2]}' WITH (num_readers = 1)")
    assert cur.rowcount == 10
    with pytest.raises(Exception, match="No node matches"):
        cur.execute(f"COPY t FROM '{files[2]}' WITH (node_filters = {{name = 'n9'}})")
    cur.execute("REFRESH TABLE t")
    assert scalar(cluster.url(2), "SELECT count(*) FROM t") == 80

    # COPY TO: each shard once, by the node holding its primary, into that
    # node's directory (each node logs the shards it exported).
    cur.execute("SELECT node['name'], id FROM sys.shards WHERE table_name = 't' AND primary")
    primaries = {}
    for name, shard in cur.fetchall():
        primaries.setdefault(name, []).append(shard)
    outbox = os.path.join(cluster.files, "out")
    cur.execute(f"COPY t TO DIRECTORY '{outbox}'")
    assert cur.rowcount == 80
    assert sorted(os.listdir(outbox)) == [f"t_{s}_.json" for s in range(6)]
    for name in cluster.names:
        with open(os.path.join(cluster.root, f"{name}.log")) as log:
            exported = [int(s) for line in log if "COPY TO exported shards" in line
                        for s in re.search(r"shards=\[([0-9, ]*)\]", line)[1].split(",")]
        assert sorted(exported) == sorted(primaries.get(name, [])), cluster.logs()
    exported = []
    for name in os.listdir(outbox):
        with open(os.path.join(outbox, name)) as f:
            exported += [json.loads(line)["id"] for line in f]
    cur.execute("SELECT id FROM t ORDER BY id LIMIT 100")
    assert sorted(exported) == [r[0] for r in cur.fetchall()]
