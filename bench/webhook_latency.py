"""Webhooks, commit to delivery, on the local stack: N invoices created, each INVOICE_CREATED event
timed from its commit to its arrival at a receiver, next to the API round trip of the same requests.
`make bench` (or `.venv/bin/python bench/webhook_latency.py [--events 1000] [--concurrency 8]`).

Starts its own local stack (`scripts/local-stack.sh start <tmpdir>`, unique STACK_NAME, free ports)
and always stops it again (also on Ctrl-C or SIGTERM); starts `scripts/webhook_receiver.py` on a free
port, registers it as an endpoint for INVOICE_CREATED (`POST /webhook-endpoints`, then `PATCH` to
the receiver's URL, since the receiver needs the secret the registration answers). One warm-up
invoice is created and delivered first (the first invocation of each function under
`cargo lambda watch` starts its process) and reported on its own. Then N `POST /invoices` with C at
a time, each request's 201 answer time recorded, and a wait (up to --timeout) until the receiver has
verified every one of their events (matched on `data.invoice.id`). Per event:
- commit -> delivery: the receiver's `receivedAt` - the event's `createdAt` (stamped by the service
  as it writes the invoice and the event in one transaction);
- answer -> delivery: `receivedAt` - the time the client had the 201;
and, as the baseline from the same run, the round trip of `POST /invoices` itself. Prints count,
median, p90, p99 and max of each, events delivered more than once and the wall time. Asserts no
thresholds: the figures are to be read next to the baseline (docs/performance.md).
"""

import argparse
import base64
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def epoch(text):
    """Seconds since the epoch of an RFC 3339 time with any number of fractional digits."""
    match = ISO.match(text)
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    whole, fraction, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(whole + zone).timestamp()
    return seconds + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def read_env(path):
    values = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.removeprefix("export ").split("=", 1)
            values[key] = value
    return values


class Api:
    def __init__(self, port, client_id, client_secret):
        self.base = f"http://127.0.0.1:{port}"
        token = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.headers = {"authorization": f"Basic {token}", "content-type": "application/json"}

    def call(self, method, path, body=None, expect=(200, 201)):
        """(status, answer as JSON, wall time of the answer, seconds the round trip took)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        answered_at, took = time.time(), time.perf_counter() - started
        if status not in expect:
            raise RuntimeError(f"{method} {path}: {status} {text[:300].decode(errors='replace')}")
        return status, json.loads(text or b"null"), answered_at, took


class Receiver:
    """scripts/webhook_receiver.py on a free port; its verified lines collected as they come."""

    def __init__(self, secret, log, copy):
        self.lines = []
        self.copy = open(copy, "w")  # every verified line, as printed (kept with --keep)
        self.cond = threading.Condition()
        self.stderr = open(log, "w")
        self.process = subprocess.Popen(
            [str(PYTHON), str(ROOT / "scripts/webhook_receiver.py"), "--secret", secret, "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        first = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        if not match:
            raise RuntimeError(f"the receiver did not start: {first!r} (see {log})")
        self.url = match.group(1) + "/hooks"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            if not line.startswith("{"):
                continue
            self.copy.write(line)
            try:
                parsed = json.loads(line)
            except ValueError as error:  # counted as not delivered; the run goes on
                print(f"receiver: unreadable line ({error}): {line[:200]!r}", file=sys.stderr, flush=True)
                continue
            with self.cond:
                self.lines.append(parsed)
                self.cond.notify_all()

    def wait_for(self, invoice_ids, timeout):
        """Waits until an event of every invoice id arrived; the ids still missing (empty: none)."""
        wanted, deadline = set(invoice_ids), time.monotonic() + timeout
        with self.cond:
            while True:
                missing = wanted - {line["event"]["data"]["invoice"]["id"] for line in self.lines}
                left = deadline - time.monotonic()
                if not missing or left <= 0:
                    return missing
                self.cond.wait(min(left, 1.0))

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stderr.close()
        self.copy.close()


def percentile(sorted_values, p):
    """Nearest rank."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def row(name, seconds):
    values = sorted(seconds)
    ms = lambda s: f"{s * 1000:,.1f}"  # noqa: E731
    return (f"| {name} | {len(values):,} | {ms(statistics.median(values))} | {ms(percentile(values, 90))} | "
            f"{ms(percentile(values, 99))} | {ms(values[-1])} |")


def run(args, directory):
    started = time.monotonic()
    env = dict(os.environ, STACK_NAME=f"bench-{os.getpid()}-{int(time.time())}")
    for name in ("API_PORT", "MOTO_PORT", "XERO_PORT"):  # free ports, as the script picks them
        env.pop(name, None)
    print(f"==> local stack in {directory} (STACK_NAME={env['STACK_NAME']})", flush=True)
    subprocess.run([str(ROOT / "scripts/local-stack.sh"), "start", str(directory)], env=env, check=True)
    stack_ready = time.monotonic()
    stack, account = read_env(directory / "stack.env"), read_env(directory / "dev-account.env")
    api = Api(stack["API_PORT"], account["CLIENT_ID"], account["CLIENT_SECRET"])

    # The receiver needs the secret, which registration answers: registered at a placeholder URL,
    # then pointed at the receiver once it listens (nothing is delivered before an invoice exists).
    _, endpoint, _, _ = api.call("POST", "/webhook-endpoints", {
        "url": "http://127.0.0.1:9/hooks", "events": ["INVOICE_CREATED"], "description": "webhook_latency bench"})
    # One delivery per event: any other enabled endpoint of the development account is disabled.
    _, others, _, _ = api.call("GET", "/webhook-endpoints?limit=100")
    for other in others["items"]:
        if other["id"] != endpoint["id"] and other["status"] == "ENABLED":
            api.call("PATCH", f"/webhook-endpoints/{other['id']}", {"status": "DISABLED"})
            print(f"==> disabled the account's other endpoint {other['id']} ({other['url']})", flush=True)
    receiver = Receiver(endpoint["secret"], directory / "receiver.log", directory / "deliveries.jsonl")
    try:
        api.call("PATCH", f"/webhook-endpoints/{endpoint['id']}", {"url": receiver.url})
        print(f"==> receiver on {receiver.url}, endpoint {endpoint['id']}", flush=True)
        body = {"currency": "USD", "customerId": "c1"}

        _, invoice, _, _ = api.call("POST", "/invoices", body, expect=(201,))
        if receiver.wait_for([invoice["id"]], args.timeout):
            raise RuntimeError(f"the warm-up invoice's event was not delivered within {args.timeout:.0f} s")
        warmup = next(line for line in receiver.lines if line["event"]["data"]["invoice"]["id"] == invoice["id"])
        warmup_latency = epoch(warmup["receivedAt"]) - epoch(warmup["event"]["createdAt"])
        print(f"==> warm-up event delivered {warmup_latency:.2f} s after its commit", flush=True)

        warmed_up = time.monotonic()
        print(f"==> {args.events:,} invoices, {args.concurrency} at a time", flush=True)
        answers = {}  # invoice id -> (wall time of the 201, round trip seconds)
        failures = []

        def create(_):
            try:
                _, created, at, took = api.call("POST", "/invoices", body, expect=(201,))
                answers[created["id"]] = (at, took)
            except Exception as error:  # counted and reported, not fatal: the others are still measured
                failures.append(str(error))

        load_started = time.monotonic()
        pool = ThreadPoolExecutor(args.concurrency)
        try:
            list(pool.map(create, range(args.events)))
        finally:  # on Ctrl-C, the requests not yet sent are dropped rather than waited for
            pool.shutdown(wait=True, cancel_futures=True)
        load_took = time.monotonic() - load_started
        print(f"==> {len(answers):,} created in {load_took:.1f} s ({len(failures)} failed); waiting for "
              f"their events (up to {args.timeout:.0f} s)", flush=True)
        missing = receiver.wait_for(answers, args.timeout)
        delivered_took = time.monotonic() - load_started
        time.sleep(args.settle)  # late repeats of an event, if any
        lines = list(receiver.lines)
    finally:
        receiver.stop()
    wall = time.monotonic() - started

    ours = [line for line in lines if line["event"]["data"]["invoice"]["id"] in answers]
    per_event = {}
    for line in ours:
        per_event.setdefault(line["webhook-id"], []).append(line)
    first = [min(group, key=lambda line: line["receivedAt"]) for group in per_event.values()]
    commit_to_delivery = [epoch(line["receivedAt"]) - epoch(line["event"]["createdAt"]) for line in first]
    answer_to_delivery = [epoch(line["receivedAt"]) - answers[line["event"]["data"]["invoice"]["id"]][0]
                          for line in first]
    round_trips = [took for _, took in answers.values()]
    repeated = sum(1 for group in per_event.values() if len(group) > 1)
    per_invoice = {}
    for line in first:
        per_invoice.setdefault(line["event"]["data"]["invoice"]["id"], []).append(line)

    print()
    print(f"webhooks, commit to delivery: {args.events:,} invoices, concurrency {args.concurrency}, "
          f"{os.cpu_count()} CPUs")
    print()
    print("| measure (ms) | count | median | p90 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    if first:
        print(row("commit -> delivery (receivedAt - createdAt)", commit_to_delivery))
        print(row("201 answer -> delivery (receivedAt - client's answer)", answer_to_delivery))
    print(row("baseline: POST /invoices round trip", round_trips))
    print()
    print(f"warm-up event (first invocations): {warmup_latency * 1000:,.1f} ms commit -> delivery")
    print(f"requests failed: {len(failures)}" + (f" (first: {failures[0]})" if failures else ""))
    print(f"events not delivered within {args.timeout:.0f} s: {len(missing)}")
    print(f"invoices with more than one event: {sum(1 for group in per_invoice.values() if len(group) > 1)}")
    print(f"events delivered more than once: {repeated}")
    print(f"wall time: {wall:.1f} s (stack start {stack_ready - started:.1f} s; endpoint, receiver and warm-up "
          f"{warmed_up - stack_ready:.1f} s; {args.events:,} requests "
          f"{load_took:.1f} s = {len(answers) / load_took:.1f}/s; first request to last delivery "
          f"{delivered_took:.1f} s)")
    return 1 if failures or missing else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="invoices to create (one event each)")
    parser.add_argument("--concurrency", type=int, default=8, help="POST /invoices requests at a time")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the deliveries")
    parser.add_argument("--settle", type=float, default=5,
                        help="seconds to keep receiving after the last event arrived, to see repeats")
    parser.add_argument("--keep", action="store_true",
                        help="keep the stack's directory (its logs, the receiver's deliveries.jsonl) after a success")
    args = parser.parse_args()
    if args.events < 1 or args.concurrency < 1:
        parser.error("--events and --concurrency must be at least 1")

    # SIGTERM ends the run like Ctrl-C does, through the `finally` that stops the stack.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    directory = Path(tempfile.mkdtemp(prefix="webhook-latency-"))
    status = 1
    try:
        status = run(args, directory)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
    finally:
        # A second Ctrl-C must not cut the stop short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("==> stopping the local stack", flush=True)
        subprocess.run([str(ROOT / "scripts/local-stack.sh"), "stop", str(directory)], check=False)
        if status == 0 and not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            print(f"logs in {directory}", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
