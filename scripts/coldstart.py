#!/usr/bin/env python3
"""Cold start of every function, against a bare `lambda_runtime` function (bench/hello-world).

Builds the release binaries for this machine (the workspace's release profile: LTO, one codegen
unit, opt-level "s"), then, for each binary and each of N runs: serves a one-event Lambda Runtime
API on a free loopback port, starts the binary as Lambda would, and measures

- the wall time from process start to the first response (or error) being posted, and
- the process's peak resident memory (VmHWM, read just before killing it, after the response).

Every event is one the function answers without touching AWS (nothing listens on the AWS
endpoint it is given): the function's events/ file without credentials (401) for API functions,
without its query (400) for the public xero-callback, with a Sequence-Version it does not know (400)
for the public receive-xero-webhooks (its signature check reads the webhook key from Secrets
Manager), an event with no records for the queue and stream consumers (reconcile-worker,
relay-webhook-events, deliver-webhooks, push-to-xero, pull-from-xero), any JSON for hello-world.
The one exception is a schedule's function (sweep-xero-changes): whatever its event, it first lists
the accounts it sweeps, so it gets its events/ file and an AWS endpoint on loopback that answers
that one DynamoDB Query with no accounts (an endpoint nothing listens on would add the SDK's
retries to the time); its answer must be an empty report after exactly that Query.
Prints medians and the ratios to hello-world. Standard library only.

    python3 scripts/coldstart.py [--runs 5] [--no-build] [--env NAME=VALUE ...] [function ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "hello-world"
PREFIX = "/2018-06-01/runtime"
TIMEOUT_S = 30.0


class RuntimeApi(ThreadingHTTPServer):
    """A Lambda Runtime API that hands out one event and records the first answer."""

    daemon_threads = True

    def __init__(self, event: bytes, function_name: str):
        super().__init__(("127.0.0.1", 0), Handler)
        self.event = event
        self.function_name = function_name
        self.request_id = str(uuid.uuid4())
        self.handed_out = False
        self.lock = threading.Lock()
        self.answered = threading.Event()
        self.stopping = threading.Event()
        self.answered_at: int | None = None  # time.perf_counter_ns()
        self.outcome: str | None = None  # "response", "error" or "init/error"
        self.body: bytes = b""

    def handle_error(self, request: object, client_address: object) -> None:
        # The killed process drops its held-open poll for the next event: not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def record(self, outcome: str, body: bytes, at: int) -> None:
        with self.lock:
            if self.answered.is_set():
                return
            self.answered_at, self.outcome, self.body = at, outcome, body
            self.answered.set()


class Handler(BaseHTTPRequestHandler):
    server: RuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        api = self.server
        if self.path != f"{PREFIX}/invocation/next":
            self.reply(404, b'{"errorType":"NotFound"}')
            return
        with api.lock:
            first = not api.handed_out
            api.handed_out = True
        if not first:
            # Lambda holds the next poll open until there is work; there is none.
            api.stopping.wait(TIMEOUT_S)
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 10_000
        self.reply(
            200,
            api.event,
            {
                "Lambda-Runtime-Aws-Request-Id": api.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": (
                    f"arn:aws:lambda:us-east-1:123456789012:function:{api.function_name}"
                ),
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        at = time.perf_counter_ns()
        api = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == f"{PREFIX}/init/error":
            api.record("init/error", body, at)
        elif self.path == f"{PREFIX}/invocation/{api.request_id}/response":
            api.record("response", body, at)
        elif self.path == f"{PREFIX}/invocation/{api.request_id}/error":
            api.record("error", body, at)
        else:
            self.reply(404, b'{"errorType":"NotFound"}')
            return
        self.reply(202, b'{"status":"OK"}')


class DynamoDbDouble(ThreadingHTTPServer):
    """An AWS endpoint that answers every DynamoDB Query with an empty page (no items, no more
    pages) and anything else with an error; records the operations it was asked for."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), DynamoDbHandler)
        self.lock = threading.Lock()
        self.operations: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class DynamoDbHandler(BaseHTTPRequestHandler):
    server: DynamoDbDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        operation = self.headers.get("X-Amz-Target") or self.path
        with self.server.lock:
            self.server.operations.append(operation)
        if operation == "DynamoDB_20120810.Query":
            status, body = 200, b'{"Count":0,"Items":[],"ScannedCount":0}'
        else:
            status, body = 400, b'{"__type":"com.amazon.coral.service#UnknownOperationException"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


EMPTY_SWEEP = {"accountsSwept": 0, "accountsFailed": 0, "pullsQueued": 0}


def peak_rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def event_for(name: str) -> tuple[bytes, str]:
    """The event to send and a description of the answer that shows AWS was not needed."""
    if name == BASELINE:
        return b'{"hello":"world"}', "echo"
    path = ROOT / "events" / f"{name}.json"
    event = json.loads(path.read_text())
    if "Records" in event:
        # A queue or stream consumer: an empty batch.
        return b'{"Records":[]}', "no failures"
    if event.get("source") == "aws.events":
        # A schedule's function (EventBridge's scheduled event): it sweeps whatever its event,
        # here no accounts (DynamoDbDouble).
        return json.dumps(event).encode(), "empty sweep"
    if name == "xero-callback":
        # The one route without credentials: without its query (no state) it answers a 400 page.
        event["queryStringParameters"] = {}
        event["rawQueryString"] = ""
        return json.dumps(event).encode(), "400"
    if name == "receive-xero-webhooks":
        # The other route without credentials: its signature check needs the webhook key from
        # Secrets Manager, but an unknown version is refused before anything runs.
        event["headers"] = {**(event.get("headers") or {}), "sequence-version": "1999-01-01"}
        return json.dumps(event).encode(), "400"
    headers = event.get("headers") or {}
    event["headers"] = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-api-key")}
    return json.dumps(event).encode(), "401"


def check(name: str, expected: str, outcome: str | None, body: bytes) -> str | None:
    """None when the answer is the one expected, else what went wrong."""
    if outcome != "response":
        return f"{outcome}: {body[:300].decode(errors='replace')}"
    try:
        answer = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:300]!r}"
    if expected in ("400", "401") and not (isinstance(answer, dict) and str(answer.get("statusCode")) == expected):
        return f"expected a {expected}, got {body[:300].decode(errors='replace')}"
    if expected == "no failures" and answer != {"batchItemFailures": []}:
        return f"expected no batch item failures, got {body[:300].decode(errors='replace')}"
    if expected == "empty sweep" and answer != EMPTY_SWEEP:
        return f"expected an empty sweep, got {body[:300].decode(errors='replace')}"
    return None


def run_once(
    binary: Path, name: str, event: bytes, extra_env: dict[str, str] | None = None
) -> tuple[float, int, str | None, bytes]:
    """(ms from start to first answer, peak RSS in KiB, outcome, answer body)."""
    api = RuntimeApi(event, name)
    server = threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    server.start()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "coldstart",
        "AWS_SECRET_ACCESS_KEY": "coldstart",
        "TABLE_NAME": "coldstart",
        "EVENTS_TABLE_NAME": "coldstart-events",
        "QUEUE_URL": "http://127.0.0.1:1/queue",
        "DELIVERY_QUEUE_URL": "http://127.0.0.1:1/deliveries",
        "PUSH_QUEUE_URL": "http://127.0.0.1:1/pushes",
        "PULL_QUEUE_URL": "http://127.0.0.1:1/pulls",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "RUST_LOG": "info",
        **(extra_env or {}),
    }
    started = time.perf_counter_ns()
    process = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not api.answered.wait(0.01):
            if process.poll() is not None:
                api.answered.wait(0.2)  # an answer posted just before exiting
                break
            if (time.perf_counter_ns() - started) / 1e9 > TIMEOUT_S:
                break
        rss = peak_rss_kib(process.pid) or 0
    finally:
        process.kill()
        _, stderr = process.communicate()
        api.stopping.set()
        api.shutdown()
        api.server_close()
    if not api.answered.is_set():
        return float("nan"), rss, None, stderr[-2000:]
    return (api.answered_at - started) / 1e6, rss, api.outcome, api.body


def target_dir() -> Path:
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(out)["target_directory"])


def all_functions() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("functions", nargs="*", help="functions to measure (default: every one under functions/)")
    parser.add_argument("--runs", type=int, default=5, help="cold starts per binary (default 5); medians are shown")
    parser.add_argument("--no-build", action="store_true", help="measure the binaries already built")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="an extra variable for every process (repeatable)"
    )
    args = parser.parse_args()

    names = [BASELINE] + [name for name in (args.functions or all_functions()) if name != BASELINE]
    if not args.no_build:
        command = ["cargo", "build", "--release"] + [arg for name in names for arg in ("-p", name)]
        print("+", " ".join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    release = target_dir() / "release"
    extra_env = dict(item.split("=", 1) for item in args.env)

    results: dict[str, tuple[float, float]] = {}
    failures: list[str] = []
    samples: dict[str, tuple[list[float], list[float]]] = {}
    for name in names:
        if not (release / name).is_file():
            failures.append(f"{name}: no binary at {release / name}")
        else:
            samples[name] = ([], [])
    events = {name: event_for(name) for name in samples}
    # The AWS endpoint of the schedules' functions, for as long as the rounds take.
    dynamodb = DynamoDbDouble()
    threading.Thread(target=dynamodb.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    sweep_env = {**extra_env, "AWS_ENDPOINT_URL": dynamodb.url}
    # Round after round, every binary once per round: the baseline and each function see the
    # machine in the same state (it is shared and noisy), so their ratios hold within a run.
    for round_number in range(args.runs):
        for name in list(samples):
            event, expected = events[name]
            sweep = expected == "empty sweep"
            asked_before = len(dynamodb.operations)
            ms, rss_kib, outcome, body = run_once(release / name, name, event, sweep_env if sweep else extra_env)
            problem = "no answer: " + body.decode(errors="replace") if outcome is None else None
            problem = problem or check(name, expected, outcome, body)
            with dynamodb.lock:
                asked = dynamodb.operations[asked_before:]
            if not problem and sweep and asked != ["DynamoDB_20120810.Query"]:
                problem = f"expected the one DynamoDB Query of an empty sweep, the endpoint was asked {asked}"
            if problem:
                failures.append(f"{name}: {problem}")
                del samples[name]
                continue
            samples[name][0].append(ms)
            samples[name][1].append(rss_kib / 1024)
        print(f"  round {round_number + 1} of {args.runs} done", file=sys.stderr, flush=True)
    dynamodb.shutdown()
    dynamodb.server_close()
    for name, (times, peaks) in samples.items():
        results[name] = (statistics.median(times), statistics.median(peaks))

    print()
    print(f"Cold start, median of {args.runs} runs (process start to first response; peak RSS = VmHWM)")
    print()
    print("| function | start to first response (ms) | peak RSS (MiB) | time / hello-world | RSS / hello-world | goal (<= 1.5x, <= 2x) |")
    print("|---|---:|---:|---:|---:|---|")
    base = results.get(BASELINE)
    for name in names:
        if name not in results:
            continue
        ms, mib = results[name]
        if base:
            within = ms / base[0] <= 1.5 and mib / base[1] <= 2.0
            ratios = f"{ms / base[0]:.2f} | {mib / base[1]:.2f} | {'met' if within else 'NOT met'}"
        else:
            ratios = "- | - | -"
        print(f"| {name} | {ms:.1f} | {mib:.1f} | {ratios} |")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
