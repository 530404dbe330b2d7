#!/usr/bin/env python3
"""The joins benchmark's queries (tests/bench/joins.rs) on DuckDB and PostgreSQL 15,
for docs/performance.md.

usage: join_peers.py duckdb   --csv steps_5000000.csv
       join_peers.py postgres --csv steps_5000000.csv --dsn "host=127.0.0.1 port=55432 user=postgres"

Needs `duckdb` / `psycopg2` (pip) and, for PostgreSQL, a running server that can
read the CSV (server-side COPY). Loads steps and the same 10,000 users as join-bench,
then prints the median of 7 runs of each query after a warm-up.
"""
import argparse
import statistics
import time

COUNTRIES = ["AT", "AU", "BR", "CA", "CH", "CN", "DE", "DK", "ES", "FI", "FR", "GB", "IN",
             "IT", "JP", "NL", "NO", "PL", "SE", "US"]
USERS = [(i, COUNTRIES[i * 7 % 20], 1940 + (i * 31 % 66)) for i in range(10000)]

QUERIES = [
    ("J1 join + group by country",
     "SELECT u.country, sum(s.steps) FROM steps s JOIN users u ON s.user_id = u.id "
     "GROUP BY u.country ORDER BY 1"),
    ("J2 top 10 by row_number()",
     "SELECT user_id, ts, steps FROM (SELECT user_id, ts, steps, row_number() OVER "
     "(PARTITION BY user_id ORDER BY steps DESC, ts) AS rn FROM steps) t "
     "WHERE rn = 1 ORDER BY steps DESC, user_id LIMIT 10"),
    ("J3 IN (subquery)",
     "SELECT count(*), sum(steps) FROM steps WHERE user_id IN "
     "(SELECT id FROM users WHERE country = 'DE' AND birth_year < 1970)"),
    # J4 is J1 with Shoal's broadcast turned off: the peers plan it as J1.
    ("J5 steps joined with itself by key",
     "SELECT count(*), sum(b.steps) FROM steps a JOIN steps b "
     "ON a.user_id = b.user_id AND a.ts = b.ts WHERE a.steps > 15000"),
]
RUNS = 7


def timed(run):
    run()  # warm-up
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def duck(csv):
    import duckdb
    c = duckdb.connect()
    c.execute("CREATE TABLE steps (user_id INT, ts TIMESTAMP, steps INT, device TEXT, note TEXT, "
              "PRIMARY KEY (user_id, ts))")
    c.execute(f"INSERT INTO steps SELECT * FROM read_csv_auto('{csv}', header = true)")
    c.execute("CREATE TABLE users (id INT PRIMARY KEY, country TEXT, birth_year INT)")
    c.executemany("INSERT INTO users VALUES (?, ?, ?)", USERS)
    for name, q in QUERIES:
        first = c.execute(q).fetchall()
        ms = timed(lambda: c.execute(q).fetchall())
        print(f"| duckdb {duckdb.__version__} | {name} | {ms:.1f} | {len(first)} | {first[0]} |")


def postgres(csv, dsn):
    import psycopg2
    c = psycopg2.connect(dsn)
    c.autocommit = True
    cur = c.cursor()
    cur.execute("DROP TABLE IF EXISTS steps, users")
    cur.execute("CREATE TABLE steps (user_id INT, ts TIMESTAMP, steps INT, device TEXT, note TEXT)")
    cur.execute(f"COPY steps FROM '{csv}' WITH (FORMAT csv, HEADER true)")
    cur.execute("ALTER TABLE steps ADD PRIMARY KEY (user_id, ts)")
    cur.execute("CREATE TABLE users (id INT PRIMARY KEY, country TEXT, birth_year INT)")
    cur.executemany("INSERT INTO users VALUES (%s, %s, %s)", USERS)
    cur.execute("VACUUM ANALYZE")
    for name, q in QUERIES:
        cur.execute(q)
        first = cur.fetchall()

        def run():
            cur.execute(q)
            cur.fetchall()
        ms = timed(run)
        print(f"| postgres 15 | {name} | {ms:.1f} | {len(first)} | {first[0]} |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("engine", choices=["duckdb", "postgres"])
    p.add_argument("--csv", required=True)
    p.add_argument("--dsn", default="host=127.0.0.1 port=55432 user=postgres dbname=postgres")
    a = p.parse_args()
    if a.engine == "duckdb":
        duck(a.csv)
    else:
        postgres(a.csv, a.dsn)


if __name__ == "__main__":
    main()
