#!/usr/bin/env python3
"""Which pages does one queue job write? Count the WAL frames of a no-op drain, per B-tree.

    cargo build --release --bins --examples && python3 bench/wal_pages.py [JOBS]

Makes a database with the release binary, queues JOBS no-op jobs (default 300) with sqlite3's
Python module, keeps a second connection open so the WAL survives the worker, drains the queue
with `target/release/examples/bench worker DB full`, then reads the page number of every WAL frame
and names the table or index it belongs to (SQLite's `dbstat`). Each frame is a whole page written
(and, with synchronous=FULL, synced) by a commit; the queue commits once per job.
"""
import collections
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
salesingest = os.path.join(target, "release", "salesingest")
bench = os.path.join(target, "release", "examples", "bench")
jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 300

with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "wal.db")
    subprocess.run([salesingest, "--db", db, "status"], check=True, stdout=subprocess.DEVNULL)
    c = sqlite3.connect(db)
    c.execute(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < ?) "
        "INSERT INTO jobs (platform, input, run_at, created_at) "
        "SELECT 'bench', '{\"n\":' || n || '}', 0, 0 FROM i",
        (jobs,),
    )
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("SELECT count(*) FROM jobs").fetchone()  # stays open: the WAL is not deleted
    subprocess.run([bench, "worker", db, "full"], check=True)
    wal = os.path.join(tmp, "copy.wal")
    shutil.copy(db + "-wal", wal)
    data = open(wal, "rb").read()
    page_size = struct.unpack(">I", data[8:12])[0]
    frames = []
    offset = 32
    while offset + 24 + page_size <= len(data):
        frames.append(struct.unpack(">II", data[offset : offset + 8]))
        offset += 24 + page_size
    names = dict((page, name) for name, page in c.execute("SELECT name, pageno FROM dbstat"))
    commits = sum(1 for _, size in frames if size)
    print(f"{jobs} jobs: {len(frames)} WAL frames in {commits} commits, "
          f"{len(frames) / max(commits, 1):.2f} frames per commit")
    counts = collections.Counter(names.get(page, f"page {page}") for page, _ in frames)
    for name, n in counts.most_common():
        print(f"  {n / max(commits, 1):5.2f} per commit  {name}")
