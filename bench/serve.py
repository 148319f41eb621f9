"""Run one provider's emulator in its own process, seeded for a benchmark, controlled over stdin.

    python bench/serve.py PROVIDER N [--accounts A] [--stale-every K] [--latency-ms L] [--tenants T]

PROVIDER is graph, google or aws (for aws, N is users per account). Once serving, it prints one JSON
line: {"provider", "section": the config section it serves, "config": the [providers.x] keys a user
would write, "env": the variables holding the token or AWS credentials, "seed_s"}. `--tenants T`
(graph only) serves T tenants of N users each, one Graph emulator apiece with its own port, tenant id
and token; "config" then holds one named instance per tenant (t00, t01, ...: `[providers.entra.t00]`). Then it answers one
JSON line per command read from stdin: `counts` (requests served, by kind), `reset` (zero the
counters), `latency MS`, `quit`.
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
from providers import emulator  # noqa: E402
from providers.emulator import Emulator, Faults  # noqa: E402


class Served:
    """One running emulator, through the `Emulator` interface; subclasses say how to count its work."""

    provider = ""

    def __init__(self, scenario: dict[str, Any], latency_ms: float) -> None:
        self.emu: Emulator = emulator.start(self.provider, scenario, Faults(latency_ms=latency_ms))

    def hello(self) -> dict[str, Any]:
        return {"section": self.emu.provider, "config": self.emu.config(), "env": self.emu.env()}

    def counts(self) -> dict[str, Any]:
        raise NotImplementedError

    def reset(self) -> None:
        self.emu.reset_counts()

    def latency(self, ms: float) -> None:
        self.emu.faults = Faults(latency_ms=ms)


def _by_route(counts: dict[str, int], prefix: str) -> dict[str, int]:
    """Collapse `GET /users/<key>` paths into one route so the answer stays small."""
    out: Counter[str] = Counter()
    for key, n in counts.items():
        method, _, path = key.partition(" ")
        if path.startswith(prefix + "/") and path.count("/") == prefix.count("/") + 1:
            path = prefix + "/{id}"
        out[f"{method} {path}"] += n
    return dict(out)


class Graph(Served):
    provider = "entra"

    def __init__(self, n: int, stale_every: int, latency_ms: float, *, tenant: int | None = None) -> None:
        scenario = scenarios.graph(n, stale_every)
        if tenant is not None:  # one of many: its own tenant id and token
            scenario.update(tenant_id=scenarios.tenant_id(tenant), token=f"{scenarios.GRAPH_TOKEN}-{tenant:02d}")
        super().__init__(scenario, latency_ms)

    def counts(self) -> dict[str, Any]:
        routes = _by_route(self.emu.request_counts(), "/v1.0/users")
        with self.emu.state.lock:
            patches = sum(self.emu.state.patches.values())
        return {"total": sum(routes.values()), "list": routes.get("GET /v1.0/users", 0),
                "get": routes.get("GET /v1.0/users/{id}", 0), "write": routes.get("POST /v1.0/$batch", 0),
                "items_written": patches, "routes": routes}

    def reset(self) -> None:
        super().reset()
        with self.emu.state.lock:
            self.emu.state.patches.clear()


class GraphTenants(Served):
    """T Graph tenants in this one process, each its own emulator (port, tenant id, token); counted together."""

    provider = "entra"

    def __init__(self, n: int, tenants: int, stale_every: int, latency_ms: float) -> None:
        self.tenants = {scenarios.tenant_name(k): Graph(n, stale_every, latency_ms, tenant=k) for k in range(tenants)}
        self.emu = next(iter(self.tenants.values())).emu

    def hello(self) -> dict[str, Any]:
        config, env = {}, {}
        for name, served in self.tenants.items():
            variable = f"SWEEPER_BENCH_{name.upper()}_TOKEN"
            config[name] = {**served.emu.config(), "token_env": variable}
            [env[variable]] = served.emu.env().values()
        return {"section": "entra", "config": config, "env": env}

    def counts(self) -> dict[str, Any]:
        total: Counter[str] = Counter()
        listed: dict[str, int] = {}
        for name, served in self.tenants.items():
            counts = served.counts()
            total.update({k: v for k, v in counts.items() if isinstance(v, int)})
            listed[name] = counts["list"]
        return {**total, "list_per_tenant": listed}

    def reset(self) -> None:
        for served in self.tenants.values():
            served.reset()

    def latency(self, ms: float) -> None:
        for served in self.tenants.values():
            served.latency(ms)


class Google(Served):
    provider = "google_workspace"
    USERS = "/admin/directory/v1/users"
    REPORTS = "/admin/reports/v1/usage/users/"  # usage report requests, any date, any answer

    def __init__(self, n: int, stale_every: int, latency_ms: float) -> None:
        super().__init__(scenarios.google(n, stale_every), latency_ms)

    def hello(self) -> dict[str, Any]:
        hello = super().hello()
        hello["config"]["customer"] = self.emu.customer_id  # bound by one one-user probe, like my_customer
        return hello

    def counts(self) -> dict[str, Any]:
        routes = _by_route(self.emu.request_counts(), self.USERS)
        with self.emu.server._lock:
            parts = dict(self.emu.part_counts)
            pages = sum(self.emu.list_pages.values())
        reports = sum(n for k, n in routes.items() if k.startswith(f"GET {self.REPORTS}"))
        return {"total": sum(routes.values()), "list": pages, "bind": routes.get(f"GET {self.USERS}", 0) - pages,
                "reports": reports, "report_pages": sum(self.emu.directory.reports.pages.values()),
                "get": routes.get(f"GET {self.USERS}/{{id}}", 0),
                "write": sum(n for k, n in routes.items() if k.startswith("POST /batch")),
                "items_written": sum(self.emu.directory.writes.values()), "routes": routes, "batch_parts": parts}

    def reset(self) -> None:
        super().reset()  # requests and batch parts
        with self.emu.directory.lock:
            self.emu.directory.writes.clear()


class Aws(Served):
    provider = "aws"
    LIST = ("GenerateCredentialReport", "GetCredentialReport", "GetAccountAuthorizationDetails")
    WRITE = ("UpdateAccessKey", "DeleteLoginProfile")

    def __init__(self, n: int, accounts: int, stale_every: int, latency_ms: float, link_tags: bool = False) -> None:
        self.accounts = accounts
        super().__init__(scenarios.aws(n, accounts, stale_every, link_tags=link_tags), latency_ms)
        # A report younger than 4 h exists, as after any earlier run: GenerateCredentialReport answers
        # COMPLETE at once. A real account's report takes seconds to generate; that wait is AWS's.
        for k in range(accounts):
            self.emu.backend(scenarios.account_id(k)).generate_report()

    def hello(self) -> dict[str, Any]:
        hello = super().hello()
        hello["config"]["report_poll_seconds"] = 0.2
        if self.accounts > 1:
            hello["config"]["organization"] = {"role_name": "SweeperAudit"}
        return hello

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


def main(argv: list[str]) -> int:
    ap = workload_arguments(argparse.ArgumentParser())
    ap.add_argument("--stale-every", type=int, default=100)
    ap.add_argument("--tenants", type=int, default=0, help="graph: serve this many tenants of N users each")
    ap.add_argument("--link-tags", action="store_true", help="aws: tag user-N with email userN@bench.example (#25)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.tenants:
        if args.provider != "graph":
            ap.error("--tenants is for graph only")
        served: Served = GraphTenants(args.n, args.tenants, args.stale_every, args.latency_ms)
    elif args.provider == "graph":
        served = Graph(args.n, args.stale_every, args.latency_ms)
    elif args.provider == "google":
        served = Google(args.n, args.stale_every, args.latency_ms)
    else:
        served = Aws(args.n, args.accounts, args.stale_every, args.latency_ms, args.link_tags)
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
