// graphile-worker, the peer of `examples/bench_pg.rs` (run by it; see bench/pg.sh):
//
//   GW_DIR=target/bench-pg/gw node bench/pg/gw_bench.mjs migrate URL
//   GW_DIR=target/bench-pg/gw node bench/pg/gw_bench.mjs run URL CONCURRENCY [nobatch|batch]
//
// `run` drains every queued job with one `runOnce` at the given concurrency (job slots in this
// one Node process) and a no-op task. `nobatch` (the default) is graphile's defaults: no
// localQueue, completeJobBatchDelay -1, so each job is fetched by `get_job` and completed by
// `complete_job` in its own round trip and commit. `batch` turns its batching on: a localQueue
// of 16 jobs fetched (and locked) at once, and completions batched (completeJobBatchDelay 0),
// the counterpart of salesingest's claim windows of up to 16 quick jobs. Prints one JSON line: seconds from just before `runOnce`
// to its end (Node's start and module load excluded; connecting included), jobs that
// succeeded, and how many of them had already succeeded in this run (duplicates).
import { createRequire } from "node:module";
import { EventEmitter } from "node:events";
import path from "node:path";

const [cmd, url, concArg, batchArg = "nobatch"] = process.argv.slice(2);
const gwDir = path.resolve(process.env.GW_DIR || "target/bench-pg/gw");
const require = createRequire(path.join(gwDir, "package.json"));
const { runOnce, runMigrations, Logger } = require("graphile-worker");
const quiet = new Logger(() => (level, message) => {
  if (level === "error") console.error(message);
});

if (cmd === "migrate") {
  await runMigrations({ connectionString: url, logger: quiet });
} else if (cmd === "run") {
  const concurrency = Number(concArg);
  const seen = new Set();
  let duplicates = 0;
  let failed = 0;
  const events = new EventEmitter();
  events.on("job:success", ({ job }) => {
    const id = String(job.id);
    if (seen.has(id)) duplicates++;
    seen.add(id);
  });
  events.on("job:error", () => failed++);
  const t0 = process.hrtime.bigint();
  await runOnce({
    connectionString: url,
    concurrency,
    maxPoolSize: concurrency + 2,
    noHandleSignals: true,
    pollInterval: 2000,
    logger: quiet,
    events,
    ...(batchArg === "batch"
      ? { preset: { worker: { localQueue: { size: 16 }, completeJobBatchDelay: 0 } } }
      : {}),
    taskList: { noop: async () => {} },
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ secs, completed: seen.size, duplicates, failed }));
} else {
  console.error("usage: gw_bench.mjs migrate|run URL [CONCURRENCY]");
  process.exit(2);
}
