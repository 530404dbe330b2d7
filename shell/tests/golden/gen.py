"""Regenerates the golden files from crash's own output code (crash 0.32.0).

Run with the venv that has crash installed (see shell/tests/side_by_side.rs):

    .venv/bin/python shell/tests/golden/gen.py

For every `<case>.in.json` (a CrateDB `/_sql` response) it writes
`<case>.out.<format>` for each crash output format, exactly as crash prints the
result to stdout when stdout is not a terminal (80 columns wide).
"""
import glob
import json
import os

from crate.crash.command import Result
from crate.crash.outputs import OutputWriter


class Capture:
    def __init__(self):
        self.parts = []

    def write(self, s, end=""):
        self.parts.append(s + end)

    def text(self):
        return "".join(self.parts)


def rowcount(resp):
    # crate-python: -1 when `rows` is absent, else `rowcount` (default -1).
    if "rows" not in resp:
        return -1
    return resp.get("rowcount", -1)


def duration(resp):
    return resp.get("duration", -1) if "duration" in resp else -1


here = os.path.dirname(os.path.abspath(__file__))
for path in sorted(glob.glob(os.path.join(here, "*.in.json"))):
    with open(path, encoding="utf-8") as f:
        resp = json.loads(f.read())
    base = path[: -len(".in.json")]
    for fmt in ["tabular", "json", "csv", "raw", "mixed", "dynamic", "json_row"]:
        cap = Capture()
        w = OutputWriter(cap, False)
        w.output_format = fmt
        w.write(Result(resp["cols"], resp["rows"], rowcount(resp), duration(resp), 80))
        with open(base + ".out." + fmt, "w", encoding="utf-8", newline="") as out:
            out.write(cap.text())
