"""Latency nacre serve adds in front of a model server, for benign traffic (loopback only, bounded).

A mock OpenAI-compatible upstream with a fixed latency runs in one process, the proxy (nacre serve, default
settings: hash audit log, decision headers and field) in another; this process sends the same requests, at the
same concurrency, straight to the upstream and then through the proxy, with httpx.AsyncClient, and prints the
p50/p99 latency each way, the difference (the added latency) and the error counts.

Prompts: ``--prompts repeat`` (default) cycles through a pool of benign questions, so after the warm-up the
assessor answers from its per-text cache and the added latency is the proxy's own plumbing plus a cached
assessment; ``--prompts unique`` makes every request a new text, so each one pays a full embedding (tens of ms
of CPU, serialised by the embedder's lock) and the added latency is dominated by the assessment queue.

Arrivals: the workers start spread over one upstream latency, as independent clients would; ``--lockstep``
starts them together, so that with a fixed-latency upstream every request arrives in a burst of
``--concurrency``. The upstream latency sets the load: concurrency / latency requests per second. The default,
1 s, is a short LLM completion (50 / 1 s = 50 req/s); ``--latency-ms 50`` offers 1,000 req/s, a throughput stress
test on 2 cores shared by all three processes, where the added latency is mostly queueing for the proxy's CPU.

Run: .venv/bin/python benchmarks/proxy_overhead.py [--requests 2000] [--concurrency 50] [--latency-ms 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

COUNTRIES = [
    "France", "Japan", "Kenya", "Peru", "Canada", "Norway", "Egypt", "Chile", "India", "Spain",
    "Brazil", "Ghana", "Italy", "Nepal", "Poland", "Vietnam", "Mexico", "Greece", "Sweden", "Morocco",
]  # fmt: skip
TEMPLATES = ["What is the capital of {}?", "What is the official language of {}?"]
MODEL = "mock-model"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux), to report CPU per request independent of contention."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Child processes ------------------------------------------------------------------------------------------------


def run_upstream(port: int, latency_ms: float) -> None:
    import uvicorn

    from nacre.serve import MockUpstream

    app = MockUpstream(model=MODEL, latency_s=latency_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run_proxy(port: int, upstream_port: int, audit: str) -> None:
    import uvicorn

    from nacre.serve import ServeConfig, create_app

    config = ServeConfig.build(
        upstream_url=f"http://127.0.0.1:{upstream_port}/v1", upstream_model=MODEL, port=port, audit_db=audit or None
    )
    uvicorn.run(create_app(config, freeze_gc=True), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# Load generator -------------------------------------------------------------------------------------------------


def prompts(n: int, unique: bool) -> list[str]:
    pool = [t.format(c) for t in TEMPLATES for c in COUNTRIES]
    if not unique:
        return [pool[i % len(pool)] for i in range(n)]
    return [f"{pool[i % len(pool)]} (question {i} of today's quiz)" for i in range(n)]


async def phase(
    clients: list[httpx.AsyncClient], texts: list[str], *, model: str, stagger_s: float = 0.0
) -> tuple[list[float], dict[str, int], list[dict]]:
    latencies: list[float] = []
    infos: list[dict] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in texts:
        queue.put_nowait(t)

    async def worker(index: int, client: httpx.AsyncClient) -> None:
        # Independent clients do not start in the same millisecond; without this, a fixed-latency upstream
        # keeps all workers in lockstep and every request arrives in a burst of `concurrency`.
        await asyncio.sleep(random.Random(index).uniform(0, stagger_s))
        while not queue.empty():
            text = queue.get_nowait()
            body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 32}
            start = time.perf_counter()
            data = None
            try:
                response = await client.post("/v1/chat/completions", json=body)
                problem = None if response.status_code == 200 else f"HTTP {response.status_code}"
                data = response.json() if problem is None else None
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            latencies.append((time.perf_counter() - start) * 1000)
            if problem is not None:
                errors[problem] = errors.get(problem, 0) + 1
            elif data is not None and "nacre" in data:
                infos.append(data["nacre"])

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(clients)))
    return latencies, errors, infos


async def measure(
    url: str, warm: list[str], texts: list[str], concurrency: int, *, model: str, stagger_s: float
) -> tuple[list[float], dict[str, int], list[dict], float]:
    """Warm up, then time ``texts``; returns latencies, errors, nacre fields and the timed phase's seconds."""
    # One single-connection client per worker: httpx's pool scans all its connections on every request, so one
    # big shared pool would make this load generator, not the servers, the bottleneck at high concurrency.
    # The clients are made (tens of ms each) and connected before the timed phase, so that making them does not
    # stall this loop and bunch up the first requests.
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=url, limits=one, timeout=60) for _ in range(concurrency)]
    try:
        await phase(clients, warm, model=model)
        start = time.perf_counter()
        latencies, errors, infos = await phase(clients, texts, model=model, stagger_s=stagger_s)
        return latencies, errors, infos, time.perf_counter() - start
    finally:
        for client in clients:
            await client.aclose()


def wait_ready(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early (status {proc.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not start in {timeout_s:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per phase (default 2000)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--latency-ms", type=float, default=1000.0, help="mock upstream latency (default 1000 ms)")
    parser.add_argument("--prompts", choices=("repeat", "unique"), default="repeat")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests per phase first (default 200)")
    parser.add_argument("--no-audit", action="store_true", help="run the proxy without its audit log")
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="start all workers at once (bursts of --concurrency requests) instead of spread over one latency",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--role", choices=("bench", "upstream", "proxy"), default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--audit", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for flag, value, least in (
        ("--requests", args.requests, 1),
        ("--concurrency", args.concurrency, 1),
        ("--warmup", args.warmup, 0),
        ("--latency-ms", args.latency_ms, 0),
    ):
        if value < least:
            parser.error(f"{flag} must be at least {least}, got {value:g}")
    if args.role == "upstream":
        run_upstream(args.port, args.latency_ms)
        return
    if args.role == "proxy":
        run_proxy(args.port, args.upstream_port, args.audit)
        return

    up_port, proxy_port = free_port(), free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "children.log", "wb")  # noqa: SIM115 - closed below, after the children exit
        upstream = subprocess.Popen(
            [*me, "--role", "upstream", "--port", str(up_port), "--latency-ms", str(args.latency_ms)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        proxy = subprocess.Popen(
            [
                *me,
                "--role",
                "proxy",
                "--port",
                str(proxy_port),
                "--upstream-port",
                str(up_port),
                "--audit",
                "" if args.no_audit else f"{tmp}/audit.db",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            direct_url, proxy_url = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{proxy_port}"
            wait_ready(f"{direct_url}/v1/models", upstream, "the mock upstream")
            wait_ready(f"{proxy_url}/healthz", proxy, "the proxy")
            unique = args.prompts == "unique"
            warm = prompts(max(args.warmup, args.concurrency), unique=False)
            texts = prompts(args.requests, unique)
            stagger = 0.0 if args.lockstep else args.latency_ms / 1000
            direct, direct_errors, _, direct_s = asyncio.run(
                measure(direct_url, warm, texts, args.concurrency, model=MODEL, stagger_s=stagger)
            )
            cpu_before = cpu_seconds(proxy.pid)
            through, proxy_errors, infos, proxy_s = asyncio.run(
                measure(proxy_url, warm, texts, args.concurrency, model=f"nacre/{MODEL}", stagger_s=stagger)
            )
            # Includes the proxy's warm-up requests: CPU is counted per request over both.
            proxy_cpu_ms = (cpu_seconds(proxy.pid) - cpu_before) * 1000 / (len(texts) + len(warm))
        finally:
            for proc in (proxy, upstream):
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            log.close()
        children = (Path(tmp) / "children.log").read_text(errors="replace").strip()

    guarded = sum(1 for i in infos if i.get("guarded"))
    assess = [i["timings_ms"]["assess"] for i in infos if "timings_ms" in i]
    upstream_leg = [i["upstream_ms"] for i in infos if "upstream_ms" in i]
    results = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "upstream_latency_ms": args.latency_ms,
        "prompts": args.prompts,
        "arrivals": "lockstep" if args.lockstep else "staggered",
        "direct": {
            "p50_ms": pct(direct, 0.5),
            "p99_ms": pct(direct, 0.99),
            "errors": sum(direct_errors.values()),
            "error_kinds": direct_errors,
            "rps": len(direct) / direct_s,
        },
        "proxy": {
            "p50_ms": pct(through, 0.5),
            "p99_ms": pct(through, 0.99),
            "errors": sum(proxy_errors.values()),
            "error_kinds": proxy_errors,
            "rps": len(through) / proxy_s,
        },
        "added_p50_ms": pct(through, 0.5) - pct(direct, 0.5),
        "added_p99_ms": pct(through, 0.99) - pct(direct, 0.99),
        "proxy_cpu_ms_per_request": proxy_cpu_ms,
        "guarded_replies": guarded,
        "assess_ms_p50": pct(assess, 0.5) if assess else None,
        "assess_ms_p99": pct(assess, 0.99) if assess else None,
        "upstream_leg_ms_p50": pct(upstream_leg, 0.5) if upstream_leg else None,
        "upstream_leg_ms_p99": pct(upstream_leg, 0.99) if upstream_leg else None,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(
        f"{args.requests} benign requests per phase, concurrency {args.concurrency}, "
        f"upstream latency {args.latency_ms:g} ms, prompts: {args.prompts}, "
        f"workers {'in lockstep' if args.lockstep else 'staggered over one latency'}"
    )
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in ("direct", "proxy"):
        r = results[name]
        print(
            f"{name:>7}: p50 {r['p50_ms']:8.2f} ms   p99 {r['p99_ms']:8.2f} ms   "
            f"{r['rps']:7.1f} req/s   errors {r['errors']} {r['error_kinds'] or ''}"
        )
    print(
        f"  added: p50 {results['added_p50_ms']:8.2f} ms   p99 {results['added_p99_ms']:8.2f} ms   (targets: 5 / 20 ms)"
    )
    if assess:
        print(
            "assessment inside the proxy (nacre.timings_ms.assess): "
            f"p50 {results['assess_ms_p50']:.2f} ms   p99 {results['assess_ms_p99']:.2f} ms"
        )
    if upstream_leg:
        print(
            "proxy's own call to the upstream (nacre.upstream_ms): "
            f"p50 {results['upstream_leg_ms_p50']:.2f} ms   p99 {results['upstream_leg_ms_p99']:.2f} ms"
        )
    print(f"proxy process CPU per request: {proxy_cpu_ms:.2f} ms (user + system, all its threads)")
    print(f"replies guarded (not passed through): {guarded} of {len(infos)}")
    if children:
        print("child process output:\n" + "\n".join(children.splitlines()[-10:]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
