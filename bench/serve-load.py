#!/usr/bin/env python3
"""Load: N distinct Gumroad Pings posted by C concurrent clients to a fresh `salesingest serve`.

Asserts every answer is 200 and, once the jobs ran, that each sale is stored exactly once;
prints p50/p99 latency and throughput. Usage (from the repository root):

    bench/serve-load.py [--bin target/release/salesingest] [--pings 1000] [--clients 16] [--worker]

Without --worker the jobs are run afterwards by `salesingest run-worker`; with it, by the
server's own worker while the Pings arrive (its time is then part of the measurement).
"""
import argparse, http.client, json, os, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default="target/release/salesingest")
ap.add_argument("--pings", type=int, default=1000)
ap.add_argument("--clients", type=int, default=16)
ap.add_argument("--worker", action="store_true")
a = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="serve-load-")
env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=f"{tmp}/xdg", XDG_CONFIG_HOME=f"{tmp}/cfg",
           SALESINGEST_DB=f"{tmp}/data/s.db", NO_COLOR="1")
env.pop("SALESINGEST_CONFIG", None)
args = [a.bin, "serve", "--json", "--listen", "127.0.0.1:0"] + (["--worker", "--batch", "50"] if a.worker else [])
srv = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
start = json.loads(srv.stdout.readline())
host, port = start["address"].rsplit(":", 1)
shown = json.loads(subprocess.check_output([a.bin, "serve", "--show-hook-url", "--json"], env=env))
path = shown["hook_path"]

base = open("tests/fixtures/gumroad/gumroad_ping.txt").read().strip()
def ping(i):
    parts = [f"sale_id=LOAD{i:06d}" if p.startswith("sale_id=") else p for p in base.split("&")]
    return "&".join(parts).encode()

bodies = [ping(i) for i in range(a.pings)]
lat, codes, lock = [], {}, threading.Lock()
next_i = [0]

def client():
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    while True:
        with lock:
            i = next_i[0]; next_i[0] += 1
        if i >= a.pings:
            break
        t = time.perf_counter()
        c.request("POST", path, body=bodies[i], headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse(); r.read()
        d = time.perf_counter() - t
        with lock:
            lat.append(d); codes[r.status] = codes.get(r.status, 0) + 1

t0 = time.perf_counter()
ts = [threading.Thread(target=client) for _ in range(a.clients)]
[t.start() for t in ts]; [t.join() for t in ts]
wall = time.perf_counter() - t0

def stored():
    out = subprocess.check_output([a.bin, "sales", "export", "--format", "ndjson", "--platform", "gumroad"], env=env, text=True)
    return [json.loads(l) for l in out.splitlines() if l.strip()]

t1 = time.perf_counter()
if a.worker:
    while True:
        jobs = json.loads(subprocess.check_output([a.bin, "jobs", "--status", "completed", "--limit", str(a.pings + 10), "--json"], env=env))
        if len(jobs) >= a.pings or time.perf_counter() - t1 > 600:
            break
        time.sleep(0.5)
else:
    while json.loads(subprocess.check_output([a.bin, "run-worker", "--batch", "500", "--json"], env=env))["claimed"] > 0:
        pass
drain = time.perf_counter() - t1
rows = stored()
srv.terminate(); srv.wait(30)

lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
distinct = len({json.dumps(r.get("raw"), sort_keys=True) for r in rows})
result = {
    "pings": a.pings, "clients": a.clients, "worker": a.worker, "codes": codes,
    "p50_ms": round(q(0.50), 2), "p99_ms": round(q(0.99), 2), "max_ms": round(lat[-1] * 1000, 2),
    "throughput_per_s": round(a.pings / wall, 1), "post_seconds": round(wall, 2),
    "jobs_drained_seconds": round(drain, 2), "sales_stored": len(rows), "distinct_sales": distinct,
}
print(json.dumps(result))
ok = codes == {200: a.pings} and len(rows) == a.pings and distinct == a.pings
if not ok:
    print("FAILED: not every Ping answered 200, or the sales are not each stored once", file=sys.stderr)
    sys.exit(1)
