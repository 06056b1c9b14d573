"""One fair queue of background jobs, owned by visitors, run by a fixed number of workers.

A class of thirty shares one server: each visitor's runs must be theirs alone, wait their
turn first-in first-out, and never take the cores that predictions need. So a `JobQueue`
holds jobs keyed by an owner token, allows at most one queued-or-running job per owner,
caps how many may wait, and runs them on `workers` daemon threads that each limit torch to
`threads_per_worker` intra-op threads (torch's thread count is per thread, so the serving
threads keep theirs) and run at a lower scheduling priority (Linux: a nice value per thread),
so a prediction that arrives while a worker trains gets a core at once. Beyond one job per
token, a client address may hold at most `address_limit` jobs (given per submission: the
policy decides it), so one script with many fresh tokens cannot fill the queue.

A job is an event factory, `make_events(stop_event) -> iterable of snapshots`; the queue
keeps only the latest snapshot, inside an immutable `JobStatus`, so a poller (a `gr.Timer`,
a notebook, a test) reads one object and never sees a half-updated state. An exception in
a job marks it failed with the message kept for display; the worker takes the next job.

With a `RunStore`, every change is also written to SQLite, and `restore` picks the queue up
again after a restart: queued jobs run in their order, a job that was running ends
`interrupted` ("stopped by a server restart"), and each visitor finds their latest job again.
Jobs are found by a hash of the owner's token (`owner_tag`), the only form the store keeps.
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..leaderboard import owner_tag
from .store import RunRecord, RunStore

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "stopping", "finished", "stopped", "cancelled", "failed", "interrupted"]
EventFactory = Callable[[threading.Event], Iterable[Any]]
OnDone = Callable[["JobStatus"], dict[str, Any] | None]
# Rebuilds a stored job after a restart: its event factory and `on_done`; raises if it cannot.
Resumer = Callable[[RunRecord], tuple[EventFactory, OnDone | None]]
ACTIVE_STATES = ("queued", "running", "stopping")
DEFAULT_ESTIMATE_S = 15.0  # a job's expected run time until one of its kind has finished here
ESTIMATE_WINDOW = 10  # finished runs averaged for the estimate
WORKER_NICENESS = 10  # training yields the CPU to serving threads whenever both want it
RESTARTED = "stopped by a server restart"
RETRY_S = 5.0  # how often the workers try again to write what could not be written (a full disk)
UNWRITTEN = (
    "finished, but its result could not be written ({error}): the server keeps it and writes it as soon as it can"
)


class JobRefused(RuntimeError):
    """A job was not accepted or an action was not allowed; the message says why."""


class QueueFullError(JobRefused):
    """`max_queue` jobs are already waiting."""


class OwnerBusyError(JobRefused):
    """The visitor already has a job queued or running."""


class NotYourJobError(JobRefused):
    """The job belongs to another visitor (or does not exist)."""


class AddressBusyError(JobRefused):
    """The client address already holds as many queued or running jobs as it may."""


@dataclass(frozen=True)
class JobStatus:
    """One immutable view of a job; `latest` is the last value the job yielded."""

    job_id: int
    owner: str
    name: str
    state: JobState
    latest: Any = None
    error: str | None = None
    submitted: float = 0.0  # time.time()
    started: float | None = None
    ended: float | None = None
    place: int | None = None  # 1 = next to start; only while queued
    start_eta_s: float | None = None  # estimated seconds until it starts; only while queued
    result: dict[str, Any] | None = None  # the stored summary of how it ended (what survives a restart)

    @property
    def active(self) -> bool:
        """Queued or running: the owner cannot start another."""
        return self.state in ACTIVE_STATES

    @property
    def running(self) -> bool:
        return self.state in ("running", "stopping")

    @property
    def elapsed(self) -> float:
        """Seconds since it started running (0 while queued)."""
        if self.started is None:
            return 0.0
        return (self.ended or time.time()) - self.started


@dataclass
class _Job:
    status: JobStatus
    make_events: EventFactory
    stop: threading.Event
    on_done: OnDone | None
    tag: str  # owner_tag of the owner's token
    address: str | None = None  # the client address's tag, for the per-address bound


def default_workers(cpus: int | None = None) -> int:
    """One training worker per two cores, at least one: a 2-core machine keeps a core for predictions."""
    return max(1, (cpus or os.cpu_count() or 1) // 2)


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """Torch threads each worker may use: the cores left after one for serving, shared out (at least 1)."""
    return max(1, ((cpus or os.cpu_count() or 1) - 1) // workers)


def lower_priority(niceness: int) -> bool:
    """Raise this thread's nice value (Linux schedules threads one by one; elsewhere, or without
    permission, nothing changes). OpenMP threads torch starts from here inherit it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        return False
    return True


class JobQueue:
    """First-in first-out jobs for many owners on a fixed pool of worker threads."""

    def __init__(
        self,
        workers: int = 1,
        max_queue: int = 50,
        threads: int | None = None,
        keep_finished: int = 200,
        store: RunStore | None = None,
    ) -> None:
        if workers < 1 or max_queue < 0:
            raise ValueError(f"need workers >= 1 and max_queue >= 0, got {workers} and {max_queue}")
        self.workers = workers
        self.max_queue = max_queue
        self.threads = threads or threads_per_worker(workers)
        self._keep_finished = keep_finished
        self._store = store
        self._cond = threading.Condition()
        self._jobs: dict[int, _Job] = {}
        self._pending: collections.deque[int] = collections.deque()
        self._latest: dict[tuple[str, str], int] = {}  # (owner tag, name) -> newest job id
        self._durations: dict[str, collections.deque[float]] = collections.defaultdict(
            lambda: collections.deque(maxlen=ESTIMATE_WINDOW)
        )
        self._next_id = 1 + (store.max_id() if store is not None else 0)  # ids never repeat across restarts
        self._unwritten: dict[int, dict[str, Any]] = {}  # job id -> store changes not yet written
        self._unrecorded: dict[int, _Job] = {}  # finished jobs whose `on_done` failed: tried again
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"mnistsum-worker-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- what visitors do ----------------------------------------------------------------

    def submit(
        self,
        owner: str,
        name: str,
        make_events: EventFactory,
        on_done: OnDone | None = None,
        settings: dict[str, Any] | None = None,
        address: str | None = None,
        address_limit: int | None = None,
    ) -> JobStatus:
        """Queue `make_events` for `owner`; `OwnerBusyError`, `AddressBusyError` or `QueueFullError` if refused.

        The factory runs in a worker thread, so slow setup (loading data) does not hold up the
        caller and its errors are captured like any other. `on_done(final_status)` runs in
        the worker after the job ends (for recording results; a dict it returns is stored as
        part of the result); its errors are logged. `settings` (JSON-safe) is what the store
        keeps to rebuild the job after a restart. `address` (the client's, any string) may hold
        at most `address_limit` queued or running jobs.
        """
        tag = owner_tag(owner)
        where = None if address is None else owner_tag(address)
        with self._cond:
            if self._closed:
                raise JobRefused("the job queue is shut down")
            job = self._active_of(tag)
            if job is not None:
                mine = self._view(job.status.job_id)
                what = f"place {mine.place} in the queue" if mine.state == "queued" else mine.state
                raise OwnerBusyError(
                    f"you already have a {mine.name} (#{mine.job_id}, {what}); stop it or wait for it to finish"
                )
            if where is not None and address_limit is not None:
                held = sum(1 for j in self._jobs.values() if j.address == where and j.status.active)
                if held >= address_limit:
                    raise AddressBusyError(
                        f"your network address already has {held} runs queued or running, the most one address may "
                        "hold on this server; wait for one to finish (a class behind one school address: use the "
                        "class code, which raises the bound)"
                    )
            if len(self._pending) >= self.max_queue:
                raise QueueFullError(
                    f"the queue is full ({len(self._pending)} runs waiting, the most this server allows); "
                    "try again in a minute"
                )
            job_id = self._next_id
            status = JobStatus(job_id, owner, name, "queued", submitted=time.time())
            if self._store is not None:
                record = RunRecord(job_id, tag, where, name, settings or {}, "queued", job_id, status.submitted)
                try:
                    self._store.add(record)
                except Exception as err:  # a full disk, a locked file: refused, and nothing half-queued
                    log.exception("could not record job #%s", job_id)
                    raise JobRefused(f"the server could not record your run ({type(err).__name__}); try again") from err
            self._next_id += 1
            self._jobs[job_id] = _Job(status, make_events, threading.Event(), on_done, tag, where)
            self._latest[(tag, name)] = job_id
            self._pending.append(job_id)
            self._prune()
            self._cond.notify()
            return self._view(job_id)

    def stop(self, owner: str, job_id: int | None = None) -> JobStatus | None:
        """Cancel the owner's queued job, or ask its running one to stop at the next check.

        With `job_id`, that job (refused with `NotYourJobError` if it is someone else's);
        without, the owner's active job. Returns its status, or None if there is nothing."""
        with self._cond:
            job = self._owned(owner, job_id) if job_id is not None else self._active_of(owner_tag(owner))
            if job is None:
                return None
            self._adopt(job, owner)
            if job.status.state == "queued":
                self._pending.remove(job.status.job_id)
                job.status = dataclasses.replace(job.status, state="cancelled", ended=time.time())
                self._record(job.status.job_id, state="cancelled", ended=job.status.ended)
            elif job.status.state == "running":
                job.stop.set()
                job.status = dataclasses.replace(job.status, state="stopping")
                self._record(job.status.job_id, state="stopping")
            return self._view(job.status.job_id)

    def status(self, owner: str, job_id: int) -> JobStatus:
        """One job's status; `NotYourJobError` unless `owner` submitted it."""
        with self._cond:
            return self._view(self._owned(owner, job_id).status.job_id)

    def latest(self, owner: str, name: str | None = None) -> JobStatus | None:
        """The owner's newest job (of `name`, if given): what a reloaded page re-attaches to."""
        tag = owner_tag(owner)
        with self._cond:
            ids = [i for (o, n), i in self._latest.items() if o == tag and (name is None or n == name)]
            ids = [i for i in ids if i in self._jobs]
            if not ids:
                return None
            self._adopt(self._jobs[max(ids)], owner)
            return self._view(max(ids))

    def wait(self, owner: str, job_id: int, timeout: float | None = None) -> JobStatus:
        """Block until the job ends or `timeout` passes (for scripts and tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._owned(owner, job_id).status.active:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return self._view(job_id)

    def counts(self) -> dict[str, int]:
        """How many jobs wait and run right now (for the page and the benchmark)."""
        with self._cond:
            running = sum(1 for job in self._jobs.values() if job.status.running)
            return {"queued": len(self._pending), "running": running, "workers": self.workers}

    def restore(self, resumers: Mapping[str, Resumer]) -> dict[str, int]:
        """Pick up the stored jobs after a restart (call once, before visitors arrive).

        A job that was running (or stopping) is marked `interrupted`; queued ones are rebuilt by
        `resumers[name]` and queued again in their order (one that cannot be rebuilt is marked
        `interrupted` with the reason); every visitor's latest ended job is shown to them again.
        Returns how many were resumed and interrupted."""
        if self._store is None:
            return {"resumed": 0, "interrupted": 0}
        now, counts = time.time(), {"resumed": 0, "interrupted": 0}
        with self._cond:
            for record in self._store.active():
                rebuilt, error = None, RESTARTED
                if record.state == "queued" and record.name in resumers:
                    try:
                        rebuilt = resumers[record.name](record)
                    except Exception as err:
                        log.exception("could not resume job #%s", record.id)
                        error = f"{RESTARTED}, and could not be queued again ({type(err).__name__}: {err})"
                if rebuilt is None:
                    self._store.update(record.id, state="interrupted", ended=now, error=error)
                    record = dataclasses.replace(record, state="interrupted", ended=now, error=error)
                    self._remember(record)
                    counts["interrupted"] += 1
                    continue
                job = self._remember(record, *rebuilt)
                self._pending.append(job.status.job_id)
                counts["resumed"] += 1
            for record in reversed(self._store.latest_ended(self._keep_finished)):
                if (record.owner, record.name) not in self._latest:
                    self._remember(record)
            self._next_id = max(self._next_id, self._store.max_id() + 1)
            self._cond.notify_all()
        return counts

    def close(self, timeout: float = 30) -> None:
        """Cancel what waits, stop what runs, and end the workers (tests, shutdown). The store keeps
        the waiting jobs queued and marks the running ones interrupted: a restart picks them up."""
        with self._cond:
            self._closed = True
            for job_id in list(self._pending):
                job = self._jobs[job_id]
                job.status = dataclasses.replace(job.status, state="cancelled", ended=time.time())
            self._pending.clear()
            for job in self._jobs.values():
                job.stop.set()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # --- inside ----------------------------------------------------------------------------

    def _owned(self, owner: str, job_id: int) -> _Job:
        job = self._jobs.get(job_id)
        if job is None or job.tag != owner_tag(owner):
            # The same answer for "someone else's" and "no such job": ids reveal nothing.
            raise NotYourJobError(
                f"run #{job_id} is not one of yours, or no longer kept (runs belong to the browser that started them)"
            )
        self._adopt(job, owner)
        return job

    @staticmethod
    def _adopt(job: _Job, owner: str) -> None:
        """A job restored from the store knows its owner's tag only; the token that matches it is its owner."""
        if job.status.owner != owner:
            job.status = dataclasses.replace(job.status, owner=owner)

    def _active_of(self, tag: str) -> _Job | None:
        for (o, _), job_id in self._latest.items():
            job = self._jobs.get(job_id)
            if o == tag and job is not None and job.status.active:
                return job
        return None

    def _remember(
        self, record: RunRecord, make_events: EventFactory | None = None, on_done: OnDone | None = None
    ) -> _Job:
        """A stored job back in memory (its owner known by tag until they come back)."""
        status = JobStatus(
            record.id,
            record.owner,
            record.name,
            record.state,  # type: ignore[arg-type]
            error=record.error,
            submitted=record.submitted,
            started=record.started,
            ended=record.ended,
            result=record.result,
        )
        job = _Job(status, make_events or _nothing, threading.Event(), on_done, record.owner, record.address)
        self._jobs[record.id] = job
        self._latest[(record.owner, record.name)] = record.id
        return job

    def _record(self, job_id: int, **changes: Any) -> None:
        """Write a change to the store; a failure is logged and the change kept, to be written with the
        next one or by `_retry` (memory stays the truth while the server runs)."""
        if self._store is None:
            return
        changes = {**self._unwritten.pop(job_id, {}), **changes}
        try:
            self._store.update(job_id, **changes)
        except Exception as err:
            log.warning("could not record job #%s (%s: %s); trying again later", job_id, type(err).__name__, err)
            self._unwritten[job_id] = changes

    def _retry(self) -> None:
        """Write what could not be written: the store's pending changes, then the results of finished
        jobs whose `on_done` failed (their leaderboard rows), which then lose their warning."""
        with self._cond:
            for job_id in list(self._unwritten):
                self._record(job_id)
            waiting = list(self._unrecorded.values())
        for job in waiting:
            try:
                extra = job.on_done(job.status)
            except Exception:
                continue  # still failing: the next try is RETRY_S away
            result = {**(job.status.result or {}), **(extra if isinstance(extra, dict) else {})}
            with self._cond:
                self._unrecorded.pop(job.status.job_id, None)
                job.status = dataclasses.replace(job.status, error=None, result=result)
                self._record(job.status.job_id, error=None, result=result)
                self._cond.notify_all()

    def _place(self, job_id: int) -> int | None:
        try:
            return self._pending.index(job_id) + 1
        except ValueError:
            return None

    def _estimate(self, name: str) -> float:
        done = self._durations.get(name)
        return sum(done) / len(done) if done else DEFAULT_ESTIMATE_S

    def _view(self, job_id: int) -> JobStatus:
        """The job's status, with its place and estimated start when it waits."""
        status = self._jobs[job_id].status
        place = self._place(job_id)
        if place is None:
            return status
        return dataclasses.replace(status, place=place, start_eta_s=self._start_eta(place))

    def _start_eta(self, place: int) -> float:
        """When the job at `place` should start: the workers' free times, filled in queue order."""
        now = time.time()
        free = [
            max(0.0, self._estimate(job.status.name) - (now - (job.status.started or now)))
            for job in self._jobs.values()
            if job.status.running
        ]
        free += [0.0] * (self.workers - len(free))
        heapq.heapify(free)
        for job_id in list(self._pending)[: place - 1]:
            heapq.heappush(free, heapq.heappop(free) + self._estimate(self._jobs[job_id].status.name))
        return free[0]

    def _prune(self) -> None:
        """Forget ended jobs that are no longer anyone's latest, then the oldest beyond `keep_finished`:
        a finished run holds its model, so a day of classes must not pile them up."""
        latest = set(self._latest.values())
        ended = [i for i, job in self._jobs.items() if not job.status.active]
        for job_id in ended:
            if job_id not in latest:
                del self._jobs[job_id]
        kept = [i for i in ended if i in latest]
        for job_id in kept[: max(0, len(kept) - self._keep_finished)]:
            job = self._jobs.pop(job_id)
            self._latest.pop((job.tag, job.status.name), None)

    def _work(self) -> None:
        torch.set_num_threads(self.threads)  # this thread only; serving threads keep theirs
        lower_priority(WORKER_NICENESS)
        while True:
            self._retry()
            with self._cond:
                while not self._pending and not self._closed:
                    if self._cond.wait(RETRY_S if self._unwritten or self._unrecorded else None) is False:
                        break  # time to try the writes again
                if self._closed:
                    return
                if not self._pending:
                    continue
                job = self._jobs[self._pending.popleft()]
                job.status = dataclasses.replace(job.status, state="running", started=time.time())
                self._record(job.status.job_id, state="running", started=job.status.started)
                self._cond.notify_all()
            self._run(job)

    def _run(self, job: _Job) -> None:
        try:
            for snapshot in job.make_events(job.stop):
                self._set(job, latest=snapshot)
        except Exception as err:  # anything: NaN loss, out of memory, missing data, a bug
            log.exception("job #%s (%s) failed", job.status.job_id, job.status.name)
            end = {"state": "failed", "error": f"{type(err).__name__}: {err}"}
        else:
            end = {"state": "stopped" if job.stop.is_set() else "finished"}
        if self._closed and end["state"] == "stopped":  # the server is shutting down, not the visitor
            end = {"state": "interrupted", "error": RESTARTED}
        final = dataclasses.replace(job.status, **end, ended=time.time())
        summary = getattr(final.latest, "result_summary", None)
        result = summary() if callable(summary) else None
        unrecorded = False
        if job.on_done is not None:  # before the state flips, so whoever sees "finished" finds the record
            try:
                extra = job.on_done(final)
            except Exception as err:  # a full disk, a locked file: said, kept, tried again (`_retry`)
                log.warning("could not record job #%s: %s: %s", job.status.job_id, type(err).__name__, err)
                said = getattr(err, "public", f"{type(err).__name__}: {err}")  # a StorageError's, without paths
                final = dataclasses.replace(final, error=UNWRITTEN.format(error=said))
                unrecorded = True
            else:
                if isinstance(extra, dict):
                    result = {**(result or {}), **extra}
        if result is not None:  # as the store gives it back after a restart (lists, not tuples)
            result = json.loads(json.dumps(result, default=str))
        final = dataclasses.replace(final, result=result)
        with self._cond:
            self._record(final.job_id, state=final.state, ended=final.ended, error=final.error, result=result)
            job.status = final
            if unrecorded:
                self._unrecorded[final.job_id] = job
            if final.state == "finished":
                self._durations[final.name].append(final.elapsed)
            self._cond.notify_all()

    def _set(self, job: _Job, **changes: Any) -> None:
        with self._cond:
            job.status = dataclasses.replace(job.status, **changes)


def _nothing(stop: threading.Event) -> Iterable[Any]:
    """The event factory of a job that is only remembered (it has ended, or will not run again)."""
    return ()
