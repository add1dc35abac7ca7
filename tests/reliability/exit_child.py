"""Programs that end in every way a real one does, run by test_exits.py.

Usage: python exit_child.py STORE WORKDIR ROUNDS PARALLEL [ENDING,...]

This launcher imports omnivector once and opens no store until every run has ended. Each
run is a child forked from it (an interpreter that has imported omnivector and never used
Lance, so it skips the import's cost) that opens the store, writes, and ends one way: by
returning (``SystemExit(0)`` unwinds it like the end of a script), by an exception, from a
thread, by a signal the launcher sends, or after forking or starting multiprocessing
children of its own. Every ending goes through the interpreter's whole shutdown (or the
kernel's, for SIGTERM). Each acknowledged write is appended to the table's log and fsynced
after the call returned. At the end the launcher, a later process, checks every log against
its table, writes to every table, and prints a JSON report.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import random
import signal
import sys
import threading
import time
import zlib


class _WithoutPandas(importlib.abc.MetaPathFinder):
    """Refuses pandas: pyarrow imports it when present, which triples start-up."""

    def find_spec(self, name: str, *_: object) -> None:
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("pandas is not needed by these programs")


sys.meta_path.insert(0, _WithoutPandas())

import multiprocessing  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import omnivector as ov  # noqa: E402

# Lance warns at every fork that it is not fork-safe; omnivector's answer is tested here
warnings.filterwarnings("ignore", message="lance is not fork-safe")

DIM = 8
BATCH = 20
# maintenance as busy as it gets: after every write it compacts and cleans up, so endings
# meet the maintenance thread inside Lance
BUSY = ov.MaintenanceConfig(
    max_small_fragments=1, min_interval=0.0, quiet_seconds=0.0, keep_seconds=0.0
)
CHILD_SECONDS = 60.0
MP_CHILDREN = {"mp-spawn": 1, "mp-forkserver": 5}


class Run:
    """One program: its ending, its table, and its log of acknowledged writes."""

    def __init__(self, root: str, workdir: str, ending: str, number: int) -> None:
        self.root = root
        self.ending = ending
        self.number = number
        self.name = f"{ending}-{number}".replace("-", "_")
        self.log = os.path.join(workdir, f"{self.name}.log")
        self.err = os.path.join(workdir, f"{self.name}.err")

    def store(self, **options: object) -> ov.VectorStore:
        return ov.VectorStore(self.root, dimension=DIM, maintenance=BUSY, **options)  # type: ignore[arg-type]

    def table(self, **options: object) -> ov.Table:
        return self.store(**options).create_table(self.name)

    def docs(self, tag: str, count: int = BATCH) -> list[dict[str, object]]:
        rng = np.random.default_rng(zlib.crc32(f"{self.name}/{tag}".encode()))
        vectors = rng.standard_normal((count, DIM)).astype(np.float32)
        return [
            {"id": f"{tag}-{j}", "vector": vectors[j].tolist(), "text": tag} for j in range(count)
        ]

    def ack(self, operation: str, ids: list[str], text: str = "") -> None:
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(json.dumps([operation, ids, text]) + "\n")
            log.flush()
            os.fsync(log.fileno())

    def add(self, table: ov.Table, tag: str, count: int = BATCH) -> None:
        docs = self.docs(tag, count)
        table.add(docs)
        self.ack("add", [str(d["id"]) for d in docs], tag)


# -- the endings: each runs in its own process ------------------------------------------------


def end_add(run: Run) -> None:
    table = run.table()
    for b in range(3):
        run.add(table, f"b{b}")


def end_upsert(run: Run) -> None:
    table = run.table()
    run.add(table, "b0")
    run.add(table, "b1")
    docs = run.docs("b0") + run.docs("up")
    for doc in docs:
        doc["text"] = "upserted"
    table.upsert(docs)
    run.ack("upsert", [str(d["id"]) for d in docs], "upserted")


def end_delete(run: Run) -> None:
    table = run.table()
    run.add(table, "b0")
    run.add(table, "b1")
    ids = [str(d["id"]) for d in run.docs("b0")]
    table.delete(ids)
    run.ack("delete", ids)


def end_index(run: Run) -> None:
    # one run in five builds in a worker process (the default), the rest in a thread
    executor = "process" if run.number % 5 == 0 else "thread"
    table = run.table(index_builds=ov.IndexBuildConfig(executor=executor))
    run.add(table, "b0", 300)
    table.create_index(kind="IVF_FLAT", background=True, num_partitions=2)


def end_resident(run: Run) -> None:
    table = run.table(resident=ov.ResidentConfig(engine="hnsw", min_rows=1))
    run.add(table, "b0", 2000)
    table.search(vector=[0.5] * DIM, k=3)  # starts loading the graph in the background


def end_exception(run: Run) -> None:
    table = run.table()
    run.add(table, "b0")
    run.add(table, "b1")
    raise RuntimeError("the program failed after its writes")


def end_thread_exit(run: Run) -> None:
    table = run.table()

    def writer() -> None:
        time.sleep(0.05)  # the main thread has ended by now
        try:
            for b in range(3):
                run.add(table, f"b{b}")
        except Exception:
            os._exit(5)  # a write refused after the main thread ended shows in the status
        sys.exit(3)  # ends this thread only: the process exits 0

    threading.Thread(target=writer).start()


def end_signal(run: Run) -> None:
    table = run.table()
    deadline = time.monotonic() + CHILD_SECONDS / 2
    b = 0
    while time.monotonic() < deadline:  # until the launcher's signal
        run.add(table, f"b{b}")
        b += 1
    raise SystemExit(9)  # no signal came


def refused(table: ov.Table, marker: str) -> None:
    """In a forked child: a write must raise ForkedProcessError, nothing else."""
    try:
        table.add([{"id": "forked", "vector": [0.0] * DIM}])
    except ov.ForkedProcessError:
        with open(marker, "w", encoding="utf-8") as out:
            out.write("refused")
        return
    raise SystemExit(8)


def end_fork(run: Run) -> None:
    table = run.table()
    run.add(table, "b0")
    marker = run.log + ".refused"
    pid = os.fork()
    if pid == 0:
        refused(table, marker)
        raise SystemExit(0)  # the forked child ends like a program: with finalization
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not os.path.exists(marker):
        raise SystemExit(7)
    run.add(table, "b1")  # the parent goes on writing


def end_mp_fork(run: Run) -> None:
    table = run.table()
    run.add(table, "b0")
    marker = run.log + ".refused"
    child = multiprocessing.get_context("fork").Process(target=refused, args=(table, marker))
    child.start()
    child.join()
    if child.exitcode != 0 or not os.path.exists(marker):
        raise SystemExit(7)
    run.add(table, "b1")


def mp_write(table: ov.Table, run: Run, tag: str) -> None:
    """In a spawned or forkserver child: the unpickled table takes writes."""
    run.add(table, tag)
    run.add(table, tag + "x")


def end_mp(run: Run, method: str) -> None:
    table = run.table()
    run.add(table, "b0")
    context = multiprocessing.get_context(method)
    children = [
        context.Process(target=mp_write, args=(table, run, f"c{k}"))
        for k in range(MP_CHILDREN[run.ending])
    ]
    for child in children:
        child.start()
    for child in children:
        child.join()
    if any(child.exitcode != 0 for child in children):
        raise SystemExit(6)
    run.add(table, "b1")


ENDINGS = {
    "add": (end_add, 0),
    "upsert": (end_upsert, 0),
    "delete": (end_delete, 0),
    "index": (end_index, 0),
    "resident": (end_resident, 0),
    "exception": (end_exception, 1),
    "thread-exit": (end_thread_exit, 0),
    "sigint": (end_signal, -signal.SIGINT),
    "sigterm": (end_signal, -signal.SIGTERM),
    "fork": (end_fork, 0),
    "mp-fork": (end_mp_fork, 0),
    "mp-spawn": (lambda run: end_mp(run, "spawn"), 0),
    "mp-forkserver": (lambda run: end_mp(run, "forkserver"), 0),
}
SIGNALS = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM}


# -- the launcher -----------------------------------------------------------------------------


def start(run: Run) -> int:
    """Fork a child that runs ``run`` and then ends like a script."""
    sys.stdout.flush()
    pid = os.fork()
    if pid:
        return pid
    err = os.open(run.err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(err, 2)
    os.close(err)
    ENDINGS[run.ending][0](run)
    raise SystemExit(0)  # unwinds the launcher's frames: nothing there catches it


def launch(runs: list[Run], parallel: int) -> tuple[dict[str, int | None], dict[str, float]]:
    """Run every program, ``parallel`` at a time; their exit codes (None: hung) and
    durations."""
    waiting = list(runs)
    running: dict[int, tuple[Run, float, float | None]] = {}  # pid: run, started, signal at
    codes: dict[str, int | None] = {}
    durations: dict[str, float] = {}
    while waiting or running:
        while waiting and len(running) < parallel:
            run = waiting.pop(0)
            running[start(run)] = (run, time.monotonic(), None)
        time.sleep(0.005)
        now = time.monotonic()
        for pid, (run, started, signal_at) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[run.name] = os.waitstatus_to_exitcode(status)
                durations[run.name] = now - started
                del running[pid]
            elif now - started > CHILD_SECONDS:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                codes[run.name] = None
                del running[pid]
            elif run.ending in SIGNALS:
                if signal_at is None and os.path.exists(run.log):
                    running[pid] = (run, started, now + random.uniform(0.0, 0.3))
                elif signal_at is not None and now >= signal_at:
                    os.kill(pid, SIGNALS[run.ending])
                    running[pid] = (run, started, float("inf"))
    return codes, durations


def expected_state(run: Run) -> tuple[dict[str, str], set[str]]:
    """Ids every acknowledged write left (with their text), and ids deleted since."""
    present: dict[str, str] = {}
    deleted: set[str] = set()
    if not os.path.exists(run.log):
        return present, deleted
    with open(run.log, encoding="utf-8") as log:
        for line in log:
            operation, ids, text = json.loads(line)
            for doc_id in ids:
                if operation == "delete":
                    present.pop(doc_id, None)
                    deleted.add(doc_id)
                else:
                    present[doc_id] = text
                    deleted.discard(doc_id)
    return present, deleted


def check(store: ov.VectorStore, run: Run) -> tuple[int, bool]:
    """Acknowledged writes missing or wrong in ``run``'s table, and whether it took a write."""
    present, deleted = expected_state(run)
    if run.name not in store:
        return len(present), False
    table = store.table(run.name)
    found = {
        h["id"]: h["text"] for h in table.dataset().to_table(columns=["id", "text"]).to_pylist()
    }
    lost = sum(found.get(doc_id) != text for doc_id, text in present.items())
    lost += sum(doc_id in found for doc_id in deleted)
    try:
        table.add([{"id": "next-process", "vector": [1.0] * DIM}])
        writable = table.count() == len(found) + 1
    except ov.OmnivectorError:
        writable = False
    return lost, writable


def tail(path: str) -> str:
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="replace") as err:
        return err.read()[-600:]


def main() -> None:
    root, workdir, rounds, parallel = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    chosen = sys.argv[5].split(",") if len(sys.argv) > 5 else list(ENDINGS)
    runs = []
    for number in range(rounds):
        for ending in chosen:
            per_run = MP_CHILDREN.get(ending, 1)
            if number % per_run == 0:  # a run with k multiprocessing children counts as k
                runs.append(Run(root, workdir, ending, number))
    random.Random(0).shuffle(runs)
    began = time.monotonic()
    codes, durations = launch(runs, parallel)
    seconds = time.monotonic() - began
    store = ov.VectorStore(root, maintenance=ov.MaintenanceConfig(enabled=False))
    report: dict[str, dict[str, object]] = {}
    for run in runs:
        entry = report.setdefault(
            run.ending, {"runs": 0, "abnormal": [], "lost": 0, "not_writable": 0}
        )
        entry["runs"] = int(entry["runs"]) + MP_CHILDREN.get(run.ending, 1)  # type: ignore[call-overload]
        code, wanted = codes[run.name], ENDINGS[run.ending][1]
        if code != wanted:
            entry["abnormal"].append({"run": run.name, "code": code, "stderr": tail(run.err)})  # type: ignore[attr-defined]
        lost, writable = check(store, run)
        entry["lost"] = int(entry["lost"]) + lost  # type: ignore[call-overload]
        entry["not_writable"] = int(entry["not_writable"]) + (not writable)  # type: ignore[call-overload]
    store.close()
    for run in runs:
        seconds_each = report[run.ending].setdefault("seconds", [])
        seconds_each.append(round(durations.get(run.name, -1.0), 2))  # type: ignore[attr-defined]
    print(json.dumps({"seconds": round(seconds, 1), "endings": report}))


if __name__ == "__main__":
    main()
