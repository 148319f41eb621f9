"""Run one provider's emulator in its own process, seeded for a benchmark, controlled over stdin.

    python bench/serve.py PROVIDER N [--accounts A] [--stale-every K] [--latency-ms L]

PROVIDER is graph, google or aws (for aws, N is users per account). Once serving, it prints one JSON
line: {"provider", "config": the [providers.x] keys a user would write, "env": the variables holding
the token or AWS credentials, "seed_s"}. Then it answers one JSON line per command read from stdin:
`counts` (requests served, by kind), `reset` (zero the counters), `latency MS`, `quit`.
Keeping the emulators out of the measured process makes the sweeper's CPU time and peak RSS its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios  # noqa: E402
from bench.harness import workload_arguments  # noqa: E402
from providers.emulator import Faults  # noqa: E402

GRAPH_ENV = "SWEEPER_BENCH_ENTRA_TOKEN"
GOOGLE_ENV = "SWEEPER_BENCH_GOOGLE_TOKEN"


class Served:
    """What the harness may ask of a running emulator."""

    def hello(self) -> dict[str, Any]:
        raise NotImplementedError

    def counts(self) -> dict[str, Any]:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def latency(self, ms: float) -> None:
        raise NotImplementedError


def _by_route(counts: Counter[str], prefix: str) -> dict[str, int]:
    """Collapse `GET /users/<key>` paths into one route so the answer stays small."""
    out: Counter[str] = Counter()
    for key, n in counts.items():
        method, _, path = key.partition(" ")
        if path.startswith(prefix + "/") and path.count("/") == prefix.count("/") + 1:
            path = prefix + "/{id}"
        out[f"{method} {path}"] += n
    return dict(out)


class Graph(Served):
    def __init__(self, n: int, stale_every: int, latency_ms: float) -> None:
        from providers.entra import emulator

        self.emu = emulator.start(scenarios.graph(n, stale_every), latency_ms=latency_ms)

    def hello(self) -> dict[str, Any]:
        return {"config": {"endpoint": self.emu.endpoint, "auth": "access_token", "token_env": GRAPH_ENV,
                           "tenant_id": self.emu.tenant_id},
                "env": {GRAPH_ENV: self.emu.token}}

    def counts(self) -> dict[str, Any]:
        s = self.emu.server
        with s._lock:
            routes = _by_route(s.counts, "/v1.0/users")
        with self.emu.state.lock:
            patches = sum(self.emu.state.patches.values())
        return {"total": sum(routes.values()), "list": routes.get("GET /v1.0/users", 0),
                "get": routes.get("GET /v1.0/users/{id}", 0), "write": routes.get("POST /v1.0/$batch", 0),
                "items_written": patches, "routes": routes}

    def reset(self) -> None:
        self.emu.server.reset_counts()
        with self.emu.state.lock:
            self.emu.state.patches.clear()

    def latency(self, ms: float) -> None:
        self.emu.server.set_faults(Faults(latency_ms=ms))


class Google(Served):
    USERS = "/admin/directory/v1/users"

    def __init__(self, n: int, stale_every: int, latency_ms: float) -> None:
        from providers.google_workspace import emulator

        self.emu = emulator.start(scenarios.google(n, stale_every), latency_ms=latency_ms)

    def hello(self) -> dict[str, Any]:
        return {"config": {"endpoint": self.emu.endpoint, "auth": "access_token", "token_env": GOOGLE_ENV,
                           "customer": scenarios.GOOGLE_CUSTOMER},
                "env": {GOOGLE_ENV: scenarios.GOOGLE_TOKEN}}

    def counts(self) -> dict[str, Any]:
        s = self.emu.server
        with s._lock:
            routes = _by_route(s.counts, self.USERS)
            parts = dict(self.emu.part_counts)
        return {"total": sum(routes.values()), "list": routes.get(f"GET {self.USERS}", 0),
                "get": routes.get(f"GET {self.USERS}/{{id}}", 0),
                "write": sum(n for k, n in routes.items() if k.startswith("POST /batch")),
                "items_written": sum(self.emu.directory.writes.values()), "routes": routes, "batch_parts": parts}

    def reset(self) -> None:
        s = self.emu.server
        s.reset_counts()
        with s._lock:
            self.emu.part_counts.clear()
        with self.emu.directory.lock:
            self.emu.directory.writes.clear()

    def latency(self, ms: float) -> None:
        self.emu.server.set_faults(Faults(latency_ms=ms))


class Aws(Served):
    LIST = ("GenerateCredentialReport", "GetCredentialReport", "GetAccountAuthorizationDetails")
    WRITE = ("UpdateAccessKey", "DeleteLoginProfile")

    def __init__(self, n: int, accounts: int, stale_every: int, latency_ms: float) -> None:
        from providers.aws_iam import emulator

        self.accounts = accounts
        self.emu = emulator.start(scenarios.aws(n, accounts, stale_every), Faults(latency_ms=latency_ms))
        # A report younger than 4 h exists, as after any earlier run: GenerateCredentialReport answers
        # COMPLETE at once. A real account's report takes seconds to generate; that wait is AWS's.
        for k in range(accounts):
            self.emu.backend(scenarios.account_id(k)).generate_report()

    def hello(self) -> dict[str, Any]:
        config: dict[str, Any] = {**self.emu.config(), "report_poll_seconds": 0.2}
        if self.accounts > 1:
            config["organization"] = {"role_name": "SweeperAudit"}
        return {"config": config, "env": self.emu.caller_env()}

    def counts(self) -> dict[str, Any]:
        with self.emu._lock:
            actions = dict(self.emu.counts)
            per_account: Counter[str] = Counter()
            for (account, action), n in self.emu.account_counts.items():
                if action in self.LIST:
                    per_account[account] += n
        return {"total": sum(actions.values()), "list": sum(actions.get(a, 0) for a in self.LIST),
                "get": actions.get("ListAccessKeys", 0) + actions.get("GetAccessKeyLastUsed", 0)
                + actions.get("GetLoginProfile", 0) + actions.get("GetUser", 0),
                "write": sum(actions.get(a, 0) for a in self.WRITE), "routes": actions,
                "list_per_account": dict(per_account)}

    def reset(self) -> None:
        self.emu.reset_counts()

    def latency(self, ms: float) -> None:
        with self.emu._lock:
            self.emu.faults = Faults(latency_ms=ms)


def main(argv: list[str]) -> int:
    ap = workload_arguments(argparse.ArgumentParser())
    ap.add_argument("--stale-every", type=int, default=100)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.provider == "graph":
        served: Served = Graph(args.n, args.stale_every, args.latency_ms)
    elif args.provider == "google":
        served = Google(args.n, args.stale_every, args.latency_ms)
    else:
        served = Aws(args.n, args.accounts, args.stale_every, args.latency_ms)
    print(json.dumps({"provider": args.provider, **served.hello(), "seed_s": time.perf_counter() - t0}), flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "counts":
            answer: dict[str, Any] = served.counts()
        elif cmd == "reset":
            served.reset()
            answer = {"ok": True}
        elif cmd == "latency":
            served.latency(float(arg))
            answer = {"ok": True}
        elif cmd == "quit":
            break
        else:
            answer = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
