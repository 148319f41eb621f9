"""A plan over many provider instances, swept in worker processes (#16).

One process sweeps its instances under one GIL: 50 tenants of 2,000 users cost about 60 ms of CPU
each, nearly all of it Python. On a machine with more than one core, `sweeper plan` can instead fork
`[engine] processes` workers once the parent has imported what the sweep needs (the SDKs stay
imported in the children, start-up is paid once). Each worker runs `max_parallel` threads that take
the next instance from the parent, sweep it with an ordinary one-instance `Sweep` (same run id, same
config, same `as_of`) and send back its `ScopeResult`s. The parent hands instances out in config
order as workers ask for them (a large tenant holds one thread, the others keep taking the rest),
and merges the results in config order: the `RunResult` is the one the in-process sweep gives.

- The journal stays in the parent. A worker's `Sweep` is given a stand-in that forwards each journal
  call over the worker's pipe (plan mode reads re-enable history, notices and removal bases, and
  records first sightings of re-enabled credentials); the parent answers them one at a time on its
  own journal. No SQLite connection or storage client is used across the fork.
- A worker that raises turns the instance it was sweeping into a failed scope saying so; one that
  dies (killed, out of memory) turns every instance it held into failed scopes; what no worker is
  left to take is swept in the parent. Never a hang on a dead worker, never a traceback.
- `[engine] max_parallel` applies to each worker: N workers sweep up to N × max_parallel instances at
  once, each worker holding what one process would.
- A binding mismatch (credentials for another tenant) stops the run as in-process: no instance is
  handed out after it, the workers are stopped, and the parent raises it (exit 2, no report).
  Instances already being listed in other workers at that moment were read, never changed.
- Ctrl-C: workers ignore SIGINT; the parent stops them and the run ends as an in-process plan does.
- In-process instead: apply (it acts and journals intents: one process, one lease), any mode but
  plan, platforms without `fork` (or not Linux), one instance, `processes = 1`, and a config with a
  `[people]` section (linking people needs every identity in one process).
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import connection, get_all_start_methods, get_context
from multiprocessing.connection import Connection
from typing import Any, Callable, cast

from sweeper.actions import describe_failure
from sweeper.config import Config
from sweeper.errors import BindingError, JournalError
from sweeper.model import ProviderStatus
from sweeper.records import Journal
from sweeper.results import RunResult, ScopeResult
from sweeper.sweep import Progress, Sweep

AUTO_PER_PROCESS = 4  # `processes = "auto"`: one worker per this many instances, at most one per usable CPU
AUTO_MAX = 8  # ... and at most this many; fewer than two means one process (on 2 CPUs: 8 instances or more)
FLUSH_EVERY = 500  # listing progress is sent to the parent every this many identities
STOP_WAIT_SECONDS = 2.0  # how long a worker asked to stop gets before it is killed


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Workers are forked (imports inherited, nothing pickled on the way in): Linux only; elsewhere
    fork is missing or unsafe (macOS frameworks) and a spawned worker would pay every import again."""
    return sys.platform.startswith("linux") and "fork" in get_all_start_methods()


def processes_for(config: Config, providers: list[str], mode: str = "plan", asked: int | None = None) -> int:
    """How many worker processes a sweep of `providers` uses; 1 is the ordinary in-process sweep.

    `[engine] processes = N` asks for N (never more than there are instances); "auto" gives one per
    AUTO_PER_PROCESS instances, at most one per usable CPU (and AUTO_MAX): one process on one CPU or
    for fewer than 2 × AUTO_PER_PROCESS instances. A worker costs its own warm-up (about 0.2 s of CPU:
    what the adapters import when they are built, the first connections), so a few small instances
    are not worth one. `asked` (a count given by the caller) stands in for the setting; the rules that
    keep a sweep in one process (not a plan, `[people]`, no fork) hold for it too."""
    if mode != "plan" or len(providers) < 2 or getattr(config, "people", None) or not can_fork():
        return 1
    setting = config.engine.processes if asked is None else asked
    if setting == "auto":
        wanted = min(usable_cpus(), len(providers) // AUTO_PER_PROCESS, AUTO_MAX)
    else:
        wanted = int(setting)
    return max(1, min(wanted, len(providers)))


def run(sweep: Sweep, processes: int | None = None) -> RunResult:
    """`sweep.run()`, in `processes` worker processes when that is more than one (default: what
    `processes_for` decides for the sweep's config); the same result either way."""
    count = processes_for(sweep.config, list(sweep.providers), sweep.mode, processes)
    return sweep.run() if count <= 1 else _Pool(sweep, count).run()


# -- the worker side -------------------------------------------------------------------------------

class _Link:
    """A worker's end of its pipe, shared by its threads: a request and its answer are one exchange."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self.lock:
            self.conn.send(message)

    def ask(self, message: tuple[Any, ...]) -> Any:
        with self.lock:
            self.conn.send(message)
            kind, value = self.conn.recv()
        if kind == "raise":
            raise value
        return value


class _Journal:
    """Stands in for the parent's journal in a worker: every method call is made there."""

    def __init__(self, link: _Link) -> None:
        self._link = link

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._link.ask(("journal", method, args, kwargs))

        return call


class _Progress(Progress):
    """Listing progress sent to the parent, a few messages per scope (the parent draws the bars)."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.lock = threading.Lock()
        self.pending: dict[int, int] = {}
        self.keys = 0

    def _task(self, kind: str, provider: str, scope_or_total: Any) -> Callable[[int], None]:
        with self.lock:
            self.keys += 1
            key = self.keys
            self.pending[key] = 0
        self.link.send(("progress", kind, key, provider, scope_or_total))

        def advance(n: int) -> None:
            with self.lock:
                count = self.pending[key] = self.pending[key] + n
                if count < FLUSH_EVERY:
                    return
                self.pending[key] = 0
            self.link.send(("advance", key, count))

        return advance

    def listing(self, provider: str, scope: str) -> Callable[[int], None]:
        return self._task("listing", provider, scope)

    def acting(self, provider: str, total: int) -> Callable[[int], None]:
        return self._task("acting", provider, total)

    def flush(self) -> None:
        with self.lock:
            due = [(key, n) for key, n in self.pending.items() if n]
            self.pending = {}
        for key, n in due:
            self.link.send(("advance", key, n))


def _rebuilt(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class _Carried:
    """An error on its way through a pipe: rebuilt as the same class with the same fields, whatever its
    constructor asks (BindingError's takes four values; pickling an exception calls it with its message)."""

    def __init__(self, err: BaseException) -> None:
        self.err = err

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuilt, (type(self.err), self.err.args, dict(vars(self.err)))


def _portable(err: BaseException) -> Any:
    """What to send for an error: the error itself when it survives the trip, else one saying the same."""
    try:
        back = pickle.loads(pickle.dumps(_Carried(err)))
        if type(back) is type(err) and str(back) == str(err):
            return _Carried(err)
    except Exception:  # noqa: BLE001 - any error's text is enough
        pass
    return JournalError(describe_failure(err))


def _worker(sweep: Sweep, conn: Connection, threads: int, inherited: list[Connection]) -> None:
    """A worker process: sweep the instances the parent hands out, `threads` at a time; never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        _die_with_parent()
        for other in inherited:  # the parent's ends of the other workers' pipes
            other.close()
        link = _Link(conn)
        journal = cast(Journal, _Journal(link)) if sweep.journal is not None else None
        progress = _Progress(link) if type(sweep.progress) is not Progress else Progress()

        def work(_: int) -> None:
            while True:
                name = link.ask(("next",))
                if name is None:
                    return
                one = replace(sweep, providers=[name], journal=journal, progress=progress)
                try:
                    scopes = one.run().scopes
                except BindingError as err:
                    link.send(("binding", name, _portable(err)))
                    continue
                except Exception as err:  # noqa: BLE001 - this instance's failure, said by the parent
                    link.send(("error", name, describe_failure(err)))
                    continue
                if isinstance(progress, _Progress):
                    progress.flush()
                try:
                    payload = pickle.dumps(scopes, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as err:  # noqa: BLE001
                    link.send(("error", name, f"its result could not be sent back ({describe_failure(err)})"))
                    continue
                link.send(("done", name, payload))

        with ThreadPoolExecutor(threads, thread_name_prefix="worker") as pool:
            list(pool.map(work, range(threads)))
    except BaseException:  # noqa: BLE001 - the parent sees the exit code and says what was lost
        code = 1
    finally:
        try:
            conn.close()
        finally:
            os._exit(code)  # no interpreter shutdown: nothing inherited from the parent is finalised here


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when the parent dies (its pipe would tell it only at its next message)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- the parent side -------------------------------------------------------------------------------

@dataclass
class _Child:
    index: int
    process: Any  # multiprocessing's fork Process
    conn: Connection
    held: list[str] = field(default_factory=list)  # instances handed out and not yet answered
    alive: bool = True


class _Pool:
    def __init__(self, sweep: Sweep, count: int) -> None:
        self.sweep = sweep
        self.count = count
        self.pending = deque(sweep.providers)
        self.results: dict[str, list[ScopeResult]] = {}
        self.mismatch: dict[str, BaseException] = {}
        self.tasks: dict[tuple[int, int], Callable[[int], None]] = {}
        self.children: list[_Child] = []

    def run(self) -> RunResult:
        self._preload()
        try:
            self._start()
            self._serve()
        finally:
            self._stop()
        if self.mismatch:
            first = min(self.mismatch, key=list(self.sweep.providers).index)
            raise self.mismatch[first]
        rest = [name for name in self.sweep.providers if name not in self.results]
        if rest:  # no worker left to take them: swept here
            for scope in replace(self.sweep, providers=rest).run().scopes:
                self.results.setdefault(scope.provider, []).append(scope)
        result = RunResult(self.sweep.run_id, self.sweep.mode, self.sweep.as_of,
                           config_digest=self.sweep.config.digest)
        for name in self.sweep.providers:
            result.scopes.extend(self.results[name])
        return result

    def _preload(self) -> None:
        """Import each kind's adapter (and so its SDK) here, once, before the workers are forked."""
        from sweeper import registry

        for kind in sorted({registry.kind_of(name) for name in self.sweep.providers}):
            try:
                registry.adapter_class(kind)
            except Exception:  # noqa: BLE001 - the instance's own sweep says why it cannot be opened
                pass

    def _start(self) -> None:
        ctx = get_context("fork")
        # each worker sweeps max_parallel instances at once, as one process does: the bound is on what one
        # process holds (threads, clients, connections), and tenants do not share their APIs' quotas. (Half
        # each was measured slower: at 20 ms a request, 4 tenants at a time leave a worker waiting.)
        threads = self.sweep.config.engine.max_parallel
        # what the parent holds (modules, config) is left out of the workers' collections: they neither
        # spend time on it nor copy its pages by touching it (gc.freeze, made for fork without exec)
        gc.freeze()
        try:
            self._fork(ctx, threads)
        finally:
            gc.unfreeze()

    def _fork(self, ctx: Any, threads: int) -> None:
        for index in range(self.count):
            mine, theirs = ctx.Pipe()
            inherited = [c.conn for c in self.children] + [mine]
            process = ctx.Process(target=_worker, args=(self.sweep, theirs, threads, inherited),
                                  name=f"sweeper-worker-{index}", daemon=True)
            # SIGINT blocked across the fork: a Ctrl-C then reaches the parent only, the worker ignores it
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                theirs.close()
            self.children.append(_Child(index, process, mine))

    def _serve(self) -> None:
        """Answer the workers until every one has finished or died."""
        while any(c.alive for c in self.children):
            live = [c for c in self.children if c.alive]
            waiting: list[Any] = [c.conn for c in live] + [c.process.sentinel for c in live]
            for ready in connection.wait(waiting):
                child = next(c for c in live if ready is c.conn or ready == c.process.sentinel)
                if not child.alive:
                    continue
                if ready is child.conn:
                    self._read(child)
                else:  # exited: what it sent before is still in the pipe
                    while child.alive and self._poll(child):
                        self._read(child)
                    if child.alive:
                        self._lost(child)
            if self.mismatch:
                return

    @staticmethod
    def _poll(child: _Child) -> bool:
        try:
            return child.conn.poll()
        except (OSError, EOFError):
            return False

    def _read(self, child: _Child) -> None:
        try:
            message = child.conn.recv()
        except (EOFError, OSError):
            self._lost(child)
            return
        kind = message[0]
        if kind == "next":
            name = self.pending.popleft() if self.pending and not self.mismatch else None
            if name is not None:
                child.held.append(name)
            self._answer(child, ("ok", name))
        elif kind == "journal":
            self._answer(child, self._journal(*message[1:]))
        elif kind == "done":
            self._settle(child, message[1], pickle.loads(message[2]))
        elif kind == "error":
            self._settle(child, message[1], [self._failed(message[1], f"the worker process sweeping it failed: "
                                                                      f"{message[2]}")])
        elif kind == "binding":
            child.held.remove(message[1])
            self.mismatch[message[1]] = message[2]
        elif kind == "progress":
            _, what, key, provider, arg = message
            start = self.sweep.progress.listing if what == "listing" else self.sweep.progress.acting
            self.tasks[(child.index, key)] = start(provider, arg)
        elif kind == "advance":
            advance = self.tasks.get((child.index, message[1]))
            if advance is not None:
                advance(message[2])

    def _journal(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
        journal = self.sweep.journal
        try:
            if journal is None or method.startswith("_"):
                raise JournalError(f"no journal method {method!r} in this run")
            return "ok", getattr(journal, method)(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - raised in the worker, where the in-process sweep has it
            return "raise", _portable(err)

    def _answer(self, child: _Child, answer: tuple[str, Any]) -> None:
        try:
            child.conn.send(answer)
        except (OSError, EOFError):
            pass  # it died: its sentinel says so next

    def _settle(self, child: _Child, name: str, scopes: list[ScopeResult]) -> None:
        if name in child.held:
            child.held.remove(name)
        self.results[name] = scopes

    @staticmethod
    def _failed(name: str, why: str) -> ScopeResult:
        return ScopeResult(name, "", ProviderStatus.FAILED, message=why)

    def _lost(self, child: _Child) -> None:
        """A worker that ended: what it held and did not answer is failed, said with how it ended."""
        child.alive = False
        child.process.join(STOP_WAIT_SECONDS)  # (its sentinel said it ended: at once)
        code = child.process.exitcode
        if code is not None and code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}" if code is not None else "its pipe closed"
        for name in child.held:
            self.results[name] = [self._failed(name, f"the worker process sweeping it ended before it finished "
                                                     f"({how}); nothing of it is judged")]
        child.held = []

    def _stop(self) -> None:
        """Workers still running (a mismatch, Ctrl-C, an error here) are stopped; all are reaped."""
        for child in self.children:
            if child.process.is_alive():
                child.process.terminate()
        for child in self.children:
            child.process.join(STOP_WAIT_SECONDS)
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
            child.conn.close()
            child.process.close()
