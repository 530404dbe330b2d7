"""The real CrateDB clients against a real Shoal server.

* the `crate` Python client (PyPI `crate`): DDL, DML, bulk executemany,
  queries and an error;
* the `crash` shell (PyPI `crash`): `crash --hosts ... -c "SELECT ..."`.

The server binary comes from $SHOAL_BIN; crash from $SHOAL_CRASH (default:
`crash` next to this Python interpreter).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
from crate import client
from crate.client.converter import DefaultTypeConverter
from crate.client.exceptions import IntegrityError, ProgrammingError


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("SHOAL_BIN")
    if not binary or not os.path.exists(binary):
        pytest.skip("SHOAL_BIN is not set to a built shoal binary")
    data = tempfile.mkdtemp(prefix="shoal-py-")
    port = _free_port()
    log = open(os.path.join(data, "server.log"), "w")
    proc = subprocess.Popen(
        [binary, "server", "--data", os.path.join(data, "d"), "--http", f"127.0.0.1:{port}",
         "--node-name", "crate", "--cluster-name", "Testing-CrateDB"],
        stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("shoal server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)


def test_crate_client_ddl_dml_bulk_query_and_error(server):
    conn = client.connect(server, error_trace=True)
    cur = conn.cursor()
    cur.execute("CREATE TABLE py (id INT PRIMARY KEY, name TEXT, score DOUBLE, ts TIMESTAMP WITH TIME ZONE, "
                "tags ARRAY(TEXT), meta OBJECT(DYNAMIC)) CLUSTERED INTO 2 SHARDS")
    assert cur.rowcount == 1
    cur.execute("INSERT INTO py (id, name, score, ts, tags, meta) VALUES (?, ?, ?, ?, ?, ?)",
                (1, "one", 1.5, "2024-01-02T03:04:05Z", ["a", "b"], {"k": "v"}))
    assert cur.rowcount == 1
    results = cur.executemany("INSERT INTO py (id, name, score) VALUES (?, ?, ?)",
                              [(i, f"n{i}", i / 2) for i in range(2, 102)])
    assert len(results) == 100
    assert all(r["rowcount"] == 1 for r in results)
    cur.execute("REFRESH TABLE py")
    cur.execute("SELECT count(*), sum(score), max(name) FROM py")
    assert cur.fetchone() == [101, 1.5 + sum(i / 2 for i in range(2, 102)), "one"]
    typed = conn.cursor(converter=DefaultTypeConverter())
    typed.execute("SELECT id, name, ts, tags, meta FROM py WHERE id = ?", (1,))
    row = typed.fetchone()
    assert row[:2] == [1, "one"]
    # The client converts timestamps from the col_types the server sends.
    assert str(row[2]).startswith("2024-01-02 03:04:05")
    assert row[3] == ["a", "b"] and row[4] == {"k": "v"}
    assert [d[0] for d in typed.description] == ["id", "name", "ts", "tags", "meta"]
    cur.execute("UPDATE py SET score = score * 2 WHERE id <= 3")
    assert cur.rowcount == 3
    cur.execute("DELETE FROM py WHERE id > 50")
    assert cur.rowcount == 51
    cur.execute("REFRESH TABLE py")
    cur.execute("SELECT count(*) FROM py")
    assert cur.fetchone()[0] == 50
    with pytest.raises(IntegrityError) as dup:
        cur.execute("INSERT INTO py (id, name) VALUES (1, 'dup')")
    assert "DuplicateKeyException" in str(dup.value)
    with pytest.raises(ProgrammingError) as missing:
        cur.execute("SELECT * FROM no_such_table")
    assert "RelationUnknown" in str(missing.value)
    cur.execute("DROP TABLE py")
    conn.close()


def _crash():
    explicit = os.environ.get("SHOAL_CRASH")
    if explicit:
        return explicit
    candidate = os.path.join(os.path.dirname(sys.executable), "crash")
    if not os.path.exists(candidate):
        pytest.skip("crash is not installed next to this Python")
    return candidate


def test_crash_runs_statements(server):
    crash = _crash()
    run = lambda stmt: subprocess.run([crash, "--hosts", server, "-c", stmt],
                                      capture_output=True, text=True, timeout=60)
    out = run("CREATE TABLE cr (id INT PRIMARY KEY, name TEXT)")
    assert out.returncode == 0, out.stderr
    assert "CREATE OK, 1 row affected" in out.stdout + out.stderr
    run("INSERT INTO cr (id, name) VALUES (1, 'Arthur'), (2, 'Ford')")
    run("REFRESH TABLE cr")
    out = run("SELECT id, name FROM cr ORDER BY id")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:6] == [
        "+----+--------+",
        "| id | name   |",
        "+----+--------+",
        "|  1 | Arthur |",
        "|  2 | Ford   |",
        "+----+--------+",
    ], out.stdout
    assert "SELECT 2 rows in set" in out.stdout + out.stderr
    out = run("SELECT * FROM nope")
    assert out.returncode == 1
    assert "RelationUnknown[Relation 'nope' unknown]" in out.stdout + out.stderr
