//! The store's contract, tested at the store API (no binary, no CLI) and written once for both
//! backends (`on_both!`): what the queue, the schedules and the blob store promise whatever
//! the engine — ordering, deduplication, the lease fence, rescue, cancel and revive, and the
//! promises that must hold with several handles (connections) racing each other.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use salesingest::queue::{
    CancelOutcome, ClaimRequest, Effects, FailDecision, Heartbeat, JobError, JobResult, JobState,
    NewJob, RetryOutcome, WorkerId,
};
use salesingest::store::{self, Location, OpenOptions, Store};

use crate::on_both;
use crate::util::{Backend, Env};

fn open(env: &Env) -> Box<dyn Store> {
    std::fs::create_dir_all(env.path("data")).unwrap();
    let location = Location::parse_here(&env.db_url()).unwrap();
    store::open(&location, &OpenOptions::default()).unwrap()
}

fn job(platform: &str, priority: i64, unique: Option<&str>) -> NewJob {
    NewJob {
        platform: platform.into(),
        input: "{}".into(),
        priority,
        run_at: None,
        max_attempts: 3,
        unique_key: unique.map(str::to_string),
    }
}

fn worker(name: &str) -> WorkerId {
    // Another host's identity: never judged dead by this process, only by its lease.
    WorkerId(format!("{name}:1:1"))
}

fn claim(s: &dyn Store, w: &WorkerId, lease_ms: i64) -> Option<salesingest::queue::ClaimedJob> {
    s.claim(&ClaimRequest {
        owner: w,
        run_id: None,
        platform: None,
        lease_ms,
    })
    .unwrap()
}

fn state(s: &dyn Store, id: i64) -> String {
    s.job(id).unwrap().expect("the job").state
}

on_both! {
    /// Due jobs come out by priority (highest first), then due time, then id; a job due later
    /// is not claimed; each claim counts an attempt.
    fn claims_follow_priority_then_due_time_then_id(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let now = s.now().unwrap();
        let low = s.enqueue(&job("a", 0, None)).unwrap().id;
        let high = s.enqueue(&job("a", 5, None)).unwrap().id;
        let low2 = s.enqueue(&job("a", 0, None)).unwrap().id;
        let mut later = job("a", 9, None);
        later.run_at = Some(now + 3_600_000);
        let later = s.enqueue(&later).unwrap().id;
        let w = worker("host-a");
        let order: Vec<i64> = std::iter::from_fn(|| claim(s.as_ref(), &w, 60_000))
            .map(|c| {
                assert_eq!(c.attempts, 1);
                c.id
            })
            .collect();
        assert_eq!(order, vec![high, low, low2]);
        assert_eq!(state(s.as_ref(), later), "queued");
    }
}

on_both! {
    /// A unique key keeps one pending job; once that job has finished, the key is free again.
    fn a_unique_key_is_pending_once(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let first = s.enqueue(&job("gumroad", 0, Some("sync"))).unwrap();
        let again = s.enqueue(&job("gumroad", 0, Some("sync"))).unwrap();
        assert!(!first.deduplicated);
        assert!(again.deduplicated);
        assert_eq!(again.id, first.id);
        // Another platform with the same key is another job.
        assert!(!s.enqueue(&job("kdp", 0, Some("sync"))).unwrap().deduplicated);
        let w = worker("host-a");
        let c = claim(s.as_ref(), &w, 60_000).unwrap();
        assert_eq!(c.id, first.id);
        // Still pending while it runs.
        assert!(s.enqueue(&job("gumroad", 0, Some("sync"))).unwrap().deduplicated);
        s.complete(&c.lease, &JobResult::default(), &Effects::default())
            .unwrap()
            .expect("held");
        let after = s.enqueue(&job("gumroad", 0, Some("sync"))).unwrap();
        assert!(!after.deduplicated);
        assert_ne!(after.id, first.id);
    }
}

on_both! {
    /// An expired lease is rescued and claimed by another worker; the first worker's heartbeat,
    /// completion and failure are then refused by the fence and change nothing.
    fn a_lost_lease_fences_every_later_write(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let id = s.enqueue(&job("a", 0, None)).unwrap().id;
        let (a, b) = (worker("host-a"), worker("host-b"));
        let first = claim(s.as_ref(), &a, 200).unwrap();
        assert_eq!(s.heartbeat(&first.lease, 200).unwrap(), Heartbeat::Held { cancel_requested: false });
        // Not expired yet: nothing to rescue, nothing to claim.
        assert!(s.rescue(&|_| false).unwrap().is_empty());
        assert!(claim(s.as_ref(), &b, 60_000).is_none());
        std::thread::sleep(std::time::Duration::from_millis(600));
        let rescued = s.rescue(&|_| false).unwrap();
        assert_eq!(rescued.len(), 1);
        assert_eq!(rescued[0].job_id, id);
        assert!(!rescued[0].now_failed);
        let second = claim(s.as_ref(), &b, 60_000).unwrap();
        assert_eq!(second.id, id);
        assert_eq!(second.attempts, 2);
        assert_eq!(s.heartbeat(&first.lease, 60_000).unwrap(), Heartbeat::Lost);
        let stale = JobResult { rows: 99, ..JobResult::default() };
        assert!(s.complete(&first.lease, &stale, &Effects::default()).unwrap().is_none());
        assert!(!s
            .fail(&first.lease, &JobError::Permanent("stale".into()), &FailDecision::Fail)
            .unwrap());
        assert_eq!(state(s.as_ref(), id), "processing");
        let done = JobResult { rows: 7, ..JobResult::default() };
        assert_eq!(s.complete(&second.lease, &done, &Effects::default()).unwrap(), Some(done));
        let row = s.job(id).unwrap().unwrap();
        assert_eq!(row.state, "completed");
        assert_eq!(s.attempts(id).unwrap().len(), 2);
    }
}

on_both! {
    /// The worker's one-call completion and next claim: a stale lease completes nothing but the
    /// next job is still claimed; the holder's call completes its job (result and attempt row)
    /// and claims the next by priority; with the queue empty it completes and claims nothing.
    fn complete_then_claim_is_fenced_and_claims_the_next(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let first_id = s.enqueue(&job("a", 5, None)).unwrap().id;
        let low = s.enqueue(&job("a", 0, None)).unwrap().id;
        let mid = s.enqueue(&job("a", 1, None)).unwrap().id;
        let (a, b) = (worker("host-a"), worker("host-b"));
        let req = |w| ClaimRequest { owner: w, run_id: None, platform: None, lease_ms: 60_000 };
        let stale = claim(s.as_ref(), &a, 200).unwrap();
        assert_eq!(stale.id, first_id);
        std::thread::sleep(std::time::Duration::from_millis(600));
        assert_eq!(s.rescue(&|_| false).unwrap().len(), 1);
        let held = claim(s.as_ref(), &b, 60_000).unwrap();
        assert_eq!(held.id, first_id);
        let ignored = JobResult { rows: 99, ..JobResult::default() };
        let (done, next_a) = s
            .complete_then_claim(&stale.lease, &ignored, &Effects::default(), &req(&a))
            .unwrap();
        assert!(done.is_none(), "a stale lease completed the job");
        let next_a = next_a.expect("the next job, claimed all the same");
        assert_eq!(next_a.id, mid);
        assert_eq!(next_a.lease.owner, a.0);
        assert_eq!(state(s.as_ref(), first_id), "processing");
        let result = JobResult { rows: 7, ..JobResult::default() };
        let (done, next_b) = s
            .complete_then_claim(&held.lease, &result, &Effects::default(), &req(&b))
            .unwrap();
        assert_eq!(done, Some(result));
        assert_eq!(next_b.expect("the last job").id, low);
        let row = s.job(first_id).unwrap().unwrap();
        assert_eq!(row.state, "completed");
        let stored: JobResult = serde_json::from_str(row.result.as_deref().unwrap()).unwrap();
        assert_eq!(stored.rows, 7, "the stale call's result was stored");
        let attempts = s.attempts(first_id).unwrap();
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[1].outcome.as_deref(), Some("completed"));
        assert_eq!(attempts[1].worker, b.0);
        let last = JobResult { rows: 1, ..JobResult::default() };
        let (done, none) = s
            .complete_then_claim(&next_a.lease, &last, &Effects::default(), &req(&a))
            .unwrap();
        assert_eq!(done, Some(last));
        assert!(none.is_none(), "claimed from an empty queue");
        assert_eq!(state(s.as_ref(), mid), "completed");
        assert_eq!(state(s.as_ref(), low), "processing");
        // The same worker claiming a job again after a rescue: the claim number alone fences
        // the older attempt.
        let again = s.enqueue(&job("a", 0, None)).unwrap().id;
        let old = claim(s.as_ref(), &a, 200).unwrap();
        assert_eq!(old.id, again);
        std::thread::sleep(std::time::Duration::from_millis(600));
        assert_eq!(s.rescue(&|_| false).unwrap().len(), 1);
        let new = claim(s.as_ref(), &a, 60_000).unwrap();
        assert_eq!((new.id, new.lease.claim), (again, old.lease.claim + 1));
        let (done, _) = s
            .complete_then_claim(&old.lease, &ignored, &Effects::default(), &req(&a))
            .unwrap();
        assert!(done.is_none(), "the older attempt of the same worker completed the job");
        assert_eq!(state(s.as_ref(), again), "processing");
    }
}

on_both! {
    /// A window of quick jobs recorded and the next window claimed in one call: each completion
    /// is fenced on its own lease (a stale one among held ones completes nothing and says so, in
    /// its place), the claim takes up to `limit` due jobs in claim order, each with its own
    /// lease and attempt row, and `limit` 0 only records.
    fn complete_all_then_claim_fences_each_job_and_claims_a_window(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let ids: Vec<i64> = (0..6).map(|p| s.enqueue(&job("a", 10 - p, None)).unwrap().id).collect();
        let (a, b) = (worker("host-a"), worker("host-b"));
        let req = |w| ClaimRequest { owner: w, run_id: None, platform: None, lease_ms: 60_000 };
        let (none, first) = s.complete_all_then_claim(&[], &req(&a), 3).unwrap();
        assert!(none.is_empty());
        assert_eq!(first.iter().map(|j| j.id).collect::<Vec<_>>(), ids[..3], "claim order");
        assert!(first.iter().all(|j| j.lease.owner == a.0 && j.attempts == 1));
        // The second job's lease is lost to host b.
        s.rescue(&|o| o == a.0).unwrap();
        let (_, stolen) = s.complete_all_then_claim(&[], &req(&b), 1).unwrap();
        assert_eq!(stolen[0].id, ids[0], "the rescue released the whole window");
        let (_, rest) = s.complete_all_then_claim(&[], &req(&a), 2).unwrap();
        assert_eq!(rest.iter().map(|j| j.id).collect::<Vec<_>>(), ids[1..3]);
        let results: Vec<JobResult> =
            (1..=3).map(|rows| JobResult { rows, ..JobResult::default() }).collect();
        let done = vec![
            (rest[0].lease.clone(), results[0].clone()),
            (first[0].lease.clone(), results[1].clone()),
            (rest[1].lease.clone(), results[2].clone()),
        ];
        let (recorded, next) = s.complete_all_then_claim(&done, &req(&a), 10).unwrap();
        assert_eq!(
            recorded,
            vec![Some(results[0].clone()), None, Some(results[2].clone())],
            "the stale lease (host a's first claim of job {}) was recorded", ids[0]
        );
        assert_eq!(next.iter().map(|j| j.id).collect::<Vec<_>>(), ids[3..], "up to the limit");
        assert_eq!(state(s.as_ref(), ids[0]), "processing");
        for (id, rows) in [(ids[1], 1), (ids[2], 3)] {
            let row = s.job(id).unwrap().unwrap();
            assert_eq!(row.state, "completed");
            let stored: JobResult = serde_json::from_str(row.result.as_deref().unwrap()).unwrap();
            assert_eq!(stored.rows, rows, "job {id} stored another job's result");
            let attempts = s.attempts(id).unwrap();
            assert_eq!(attempts.last().unwrap().outcome.as_deref(), Some("completed"));
        }
        for j in &next {
            let attempts = s.attempts(j.id).unwrap();
            assert_eq!(attempts.len(), 1);
            assert_eq!((attempts[0].worker.as_str(), attempts[0].outcome.as_deref()), (a.0.as_str(), None));
        }
        // Only recording: nothing claimed although jobs are due.
        s.enqueue(&job("a", 0, None)).unwrap();
        let done: Vec<_> = next.iter().map(|j| (j.lease.clone(), JobResult::default())).collect();
        let (recorded, claimed) = s.complete_all_then_claim(&done, &req(&a), 0).unwrap();
        assert_eq!(recorded.iter().filter(|r| r.is_some()).count(), 3);
        assert!(claimed.is_empty());
        // Recording the same leases again changes nothing.
        let (again, _) = s.complete_all_then_claim(&done, &req(&a), 0).unwrap();
        assert!(again.iter().all(Option::is_none), "a completed job was completed twice");
    }
}

/// The handler of the window test: 2 ms a job (quick, and long enough that two claims never
/// share a millisecond, the store's time unit), except job `slow`, which runs 1.2 s while
/// another run's rescue pass (nobody judged dead, short leases) tries every 100 ms to take jobs
/// back.
struct WindowHandler {
    slow: i64,
    other: Box<dyn Store>,
    rescued_meanwhile: usize,
}

impl salesingest::queue::worker::Handler for WindowHandler {
    fn handle(
        &mut self,
        job: &salesingest::queue::ClaimedJob,
        _ctl: &salesingest::queue::worker::JobControl,
    ) -> Result<(JobResult, Effects), JobError> {
        if job.id == self.slow {
            for _ in 0..12 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                self.rescued_meanwhile += self.other.rescue(&|_| false).unwrap().len();
            }
        } else {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok((
            JobResult {
                rows: job.id as u64,
                ..JobResult::default()
            },
            Effects::default(),
        ))
    }
}

on_both! {
    /// The worker claims quick jobs in growing windows (1, 2, 4, 8, 16) and records each window
    /// with the next claim: every job completed once under one attempt, with its own result,
    /// reported in claim order. A slow job sends the window back to one, and the jobs of its
    /// window waiting behind it keep their leases through it (the heartbeat renews them), so
    /// a rescue pass meanwhile takes none of them.
    fn the_worker_claims_quick_jobs_in_windows_and_renews_the_waiting_ones(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let ids: Vec<i64> = (0..40).map(|p| s.enqueue(&job("a", 100 - p, None)).unwrap().id).collect();
        let slow = ids[20];
        let mut handler = WindowHandler { slow, other: open(&env), rescued_meanwhile: 0 };
        let url = env.db_url();
        let open_hb = move || -> anyhow::Result<Box<dyn salesingest::queue::JobStore + Send>> {
            let location = Location::parse_here(&url)?;
            Ok(store::open(&location, &OpenOptions::default())?.into_queue())
        };
        let cfg = salesingest::queue::worker::WorkerConfig {
            batch: 100,
            platform: None,
            // A 300 ms lease and a 1.2 s job: only the heartbeat (every 100 ms) keeps leases.
            lease_ms: 300,
            policy: salesingest::queue::retry::RetryPolicy::default(),
            retention: salesingest::queue::retry::Retention::default(),
            window: salesingest::queue::worker::DEFAULT_WINDOW,
            args: "test".into(),
        };
        let report =
            salesingest::queue::worker::run(s.queue(), &open_hb, &mut handler, &cfg, &mut |_| {})
                .unwrap();
        assert_eq!(handler.rescued_meanwhile, 0, "a job waiting behind the slow one was rescued");
        assert_eq!((report.counts.claimed, report.counts.completed), (40, 40));
        assert_eq!(report.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), ids, "claim order");
        let mut claimed_at = Vec::new();
        for &id in &ids {
            let row = s.job(id).unwrap().unwrap();
            assert_eq!(row.state, "completed");
            let stored: JobResult = serde_json::from_str(row.result.as_deref().unwrap()).unwrap();
            assert_eq!(stored.rows, id as u64, "job {id} stored another job's result");
            let attempts = s.attempts(id).unwrap();
            assert_eq!(attempts.len(), 1, "job {id} ran {} times", attempts.len());
            assert_eq!(attempts[0].outcome.as_deref(), Some("completed"));
            claimed_at.push((attempts[0].started_at, attempts[0].finished_at.unwrap()));
        }
        // Jobs claimed in one transaction share its time: the first 15 quick jobs came in a few
        // windows (4 when every handler call took under 20 ms; a loaded machine may split some).
        let windows = claimed_at[..15].iter().map(|t| t.0).collect::<BTreeSet<_>>().len();
        assert!(windows <= 10, "15 quick jobs took {windows} claims");
        // The slow job's window holds at most 16 jobs, and the jobs after it were claimed after
        // it ran: a worker does not sit on more jobs while one of them is slow.
        let (slow_claim, slow_done) = claimed_at[20];
        let held = claimed_at.iter().filter(|t| t.0 == slow_claim).count();
        assert!(held <= 16, "{held} jobs claimed with the slow one");
        let after = claimed_at.iter().filter(|t| t.0 == claimed_at[31].0).count();
        assert_eq!(after, 1, "the window after the slow job's was not back to one job");
        for (i, t) in claimed_at.iter().enumerate().skip(21) {
            assert!(t.0 == slow_claim || t.0 >= slow_done, "job {} claimed during the slow one", ids[i]);
        }
    }
}

on_both! {
    /// A rescued job out of attempts fails instead of running again.
    fn a_rescue_out_of_attempts_fails_the_job(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let mut one = job("a", 0, None);
        one.max_attempts = 1;
        let id = s.enqueue(&one).unwrap().id;
        let _held = claim(s.as_ref(), &worker("host-a"), 100).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let rescued = s.rescue(&|_| false).unwrap();
        assert_eq!(rescued.len(), 1);
        assert!(rescued[0].now_failed);
        assert_eq!(state(s.as_ref(), id), "failed");
        assert!(claim(s.as_ref(), &worker("host-b"), 60_000).is_none());
    }
}

on_both! {
    /// Cancel and revive: every outcome of the contract, idempotent where it says so.
    fn cancel_and_revive_outcomes(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let queued = s.enqueue(&job("a", 0, None)).unwrap().id;
        assert_eq!(s.cancel(queued).unwrap(), CancelOutcome::Cancelled);
        assert_eq!(
            s.cancel(queued).unwrap(),
            CancelOutcome::AlreadyFinished(JobState::Cancelled)
        );
        assert_eq!(s.cancel(999_999).unwrap(), CancelOutcome::NotFound);
        assert_eq!(s.revive(999_999, 1).unwrap(), RetryOutcome::NotFound);

        let running = s.enqueue(&job("b", 0, None)).unwrap().id;
        let c = claim(s.as_ref(), &worker("host-a"), 60_000).unwrap();
        assert_eq!(c.id, running);
        assert_eq!(s.revive(running, 1).unwrap(), RetryOutcome::NotFailed(JobState::Processing));
        assert_eq!(s.cancel(running).unwrap(), CancelOutcome::Requested);
        assert_eq!(
            s.heartbeat(&c.lease, 60_000).unwrap(),
            Heartbeat::Held { cancel_requested: true }
        );
        assert!(s
            .fail(&c.lease, &JobError::Permanent("boom".into()), &FailDecision::Fail)
            .unwrap());
        assert_eq!(state(s.as_ref(), running), "failed");
        assert_eq!(s.revive(running, 2).unwrap(), RetryOutcome::Revived);
        assert_eq!(state(s.as_ref(), running), "queued");
        let again = claim(s.as_ref(), &worker("host-a"), 60_000).unwrap();
        assert_eq!(again.id, running);
        // A failed job dismissed by cancel is no longer reported as unresolved.
        assert!(s
            .fail(&again.lease, &JobError::Permanent("boom".into()), &FailDecision::Fail)
            .unwrap());
        assert!(s.unresolved_failed_jobs().unwrap().iter().any(|f| f.id == running));
        assert_eq!(s.cancel(running).unwrap(), CancelOutcome::Dismissed);
        assert!(!s.unresolved_failed_jobs().unwrap().iter().any(|f| f.id == running));
    }
}

on_both! {
    /// Four handles (connections) claiming at once from 200 jobs: every job is claimed by
    /// exactly one of them, and every completion is accepted once.
    fn racing_handles_claim_each_job_once(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let ids: BTreeSet<i64> = (0..200)
            .map(|_| s.enqueue(&job("a", 0, None)).unwrap().id)
            .collect();
        let url = env.db_url();
        let start = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|n| {
                let (url, start) = (url.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    let location = Location::parse_here(&url).unwrap();
                    let s = store::open(&location, &OpenOptions::default()).unwrap();
                    let w = worker(&format!("host-{n}"));
                    start.wait();
                    let mut mine = Vec::new();
                    while let Some(c) = claim(s.as_ref(), &w, 60_000) {
                        assert!(s
                            .complete(&c.lease, &JobResult::default(), &Effects::default())
                            .unwrap()
                            .is_some());
                        mine.push(c.id);
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        let claimed: BTreeSet<i64> = all.iter().copied().collect();
        assert_eq!(all.len(), claimed.len(), "a job was claimed twice");
        assert_eq!(claimed, ids);
        for id in ids.iter().step_by(37) {
            assert_eq!(s.attempts(*id).unwrap().len(), 1);
        }
    }
}

on_both! {
    /// A schedule fired by six handles at once enqueues one job; it fires again only after its
    /// interval (and then its pending job deduplicates nothing new while the first is pending).
    fn a_schedule_fires_once_across_racing_handles(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let url = env.db_url();
        let start = Arc::new(Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (url, start) = (url.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    let location = Location::parse_here(&url).unwrap();
                    let s = store::open(&location, &OpenOptions::default()).unwrap();
                    start.wait();
                    s.fire_schedule("nightly", 3_600_000, &job("gumroad", 0, Some("nightly")))
                        .unwrap()
                })
            })
            .collect();
        let fired: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(s.jobs(None, Some("gumroad"), 100).unwrap().len(), 1);
        // Not due again within the hour.
        assert!(s
            .fire_schedule("nightly", 3_600_000, &job("gumroad", 0, Some("nightly")))
            .unwrap()
            .is_none());
        // A schedule with a 1 ms interval is due again, and its pending job deduplicates.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let again = s
            .fire_schedule("nightly", 1, &job("gumroad", 0, Some("nightly")))
            .unwrap()
            .expect("due");
        assert!(again.deduplicated);
        assert_eq!(again.id, fired[0].id);
    }
}

on_both! {
    /// Blobs are kept by content hash: the same bytes twice are one blob, a file and its bytes
    /// have the same hash, and what comes back is byte for byte what went in.
    fn blobs_round_trip_by_content_hash(backend) {
        let env = Env::on(backend);
        let s = open(&env);
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sha = s.put_blob_bytes(&bytes).unwrap();
        assert_eq!(sha.len(), 64);
        assert_eq!(s.put_blob_bytes(&bytes).unwrap(), sha);
        let file = env.path("report.bin");
        std::fs::write(&file, &bytes).unwrap();
        s.put_blob_file(&sha, &file).unwrap();
        let back = s.fetch_blob(&sha).unwrap().expect("kept");
        assert_eq!(std::fs::read(back.path()).unwrap(), bytes);
        assert!(s.fetch_blob(&"0".repeat(64)).unwrap().is_none());
        if backend == Backend::Postgres {
            assert_eq!(env.scalar("SELECT count(*) FROM blobs"), 1);
        }
    }
}
