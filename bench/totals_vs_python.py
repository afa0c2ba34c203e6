"""Totals throughput in one run: the API's implementation, the one before issue #14 and Python's
`decimal` on the same body. `make bench` (or `python3 bench/totals_vs_python.py`).

Runs `cargo bench -p invoicing-domain --bench totals` (divan; every totals bench is printed), whose
`parse_and_calculate` measures in the same process `fast` (what the endpoint runs for this body), `serde` (serde_json
into the borrowed request, then `calculate`: what any other body costs) and `reference` (the
implementation before #14), then times the same arithmetic in Python on the same body: `json` with
every number and decimal string read as `decimal.Decimal`, lines rounded half away from zero to the
currency's 2 places, tax on the rounded net, group sums in a dict. The body is built exactly as
`shared/domain/benches/totals.rs` builds it. Prints lines per second and the ratios against the
goals of #14: >= 5 M lines/s and >= 30x Python for 10,000 lines.
"""

import decimal
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINES = 10_000
CENT = decimal.Decimal("0.01")
UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def body(lines):
    line = lambda i: (  # noqa: E731
        f'{{"id": "line-{i}", "title": "Usage", "quantity": "{i % 97}.25", "rate": "{1000 + i}.10", '
        f'"taxRate": "0.2", "groupId": "group-{i % 7}"}}'
    )
    return '{"currency": "EUR", "lineItems": [' + ",".join(line(i) for i in range(lines)) + "]}"


def totals(text):
    request = json.loads(text, parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    round_ = lambda d: d.quantize(CENT, rounding=decimal.ROUND_HALF_UP)  # noqa: E731  (half away from zero)
    total = [decimal.Decimal(0)] * 3
    groups = {}
    lines = []
    for line in request["lineItems"]:
        quantity, rate, tax_rate = (decimal.Decimal(line[k]) for k in ("quantity", "rate", "taxRate"))
        net = round_(quantity * rate)
        tax = round_(net * tax_rate)
        figures = (net + tax, net, tax)
        total = [a + b for a, b in zip(total, figures)]
        if line.get("groupId") is not None:
            sums = groups.get(line["groupId"])
            groups[line["groupId"]] = figures if sums is None else tuple(a + b for a, b in zip(sums, figures))
        lines.append((line.get("id"), figures))
    return lines, groups, total


def python_times(text, runs=15):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        totals(text)
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def seconds(cell):
    value, unit = cell.split()
    return float(value) * UNITS[unit]


def rust_times():
    """divan's fastest and median for each parse_and_calculate variant at 10,000 lines, in seconds."""
    out = subprocess.run(
        ["cargo", "bench", "-q", "-p", "invoicing-domain", "--bench", "totals"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    sys.stdout.write(out)
    # parse_and_calculate is divan's last group (alphabetical order): its rows follow its name.
    times, variant, section = {}, None, False
    for row in out.splitlines():
        if "parse_and_calculate" in row:
            section = True
            continue
        if not section:
            continue
        named = re.search(r"[├╰]─ (fast|serde|reference)\s", row)
        if named:
            variant = named.group(1)
        elif variant and re.search(r"[├╰]─ 10000\s", row):
            cells = [c.strip() for c in row.split("│")]
            # name and fastest | slowest | median | mean | samples | iters
            times[variant] = (seconds(cells[-6].split("─ 10000")[-1].strip()), seconds(cells[-4]))
    return times


def main():
    text = body(LINES)
    lines, _, total = totals(text)
    rust = rust_times()
    py_fastest, py_median = python_times(text)
    rate = lambda s: LINES / s / 1e6  # noqa: E731
    print(f"\n10,000 lines, parse + calculate, one run (Python {sys.version.split()[0]} decimal):")
    print(f"  {'':28} {'fastest':>9} {'M lines/s':>10}   {'median':>9} {'M lines/s':>10}")
    rows = [("fast (the endpoint)", rust["fast"]), ("serde + calculate", rust["serde"]),
            ("reference (before #14)", rust["reference"]), ("Python decimal", (py_fastest, py_median))]
    for name, (fastest, median) in rows:
        print(f"  {name:28} {fastest * 1e3:6.2f} ms {rate(fastest):10.2f}   {median * 1e3:6.2f} ms {rate(median):10.2f}")
    fast_fastest, fast_median = rust["fast"]
    ref_fastest, ref_median = rust["reference"]
    print(f"  goal >= 5 M lines/s: fast {rate(fast_fastest):.2f} (fastest), {rate(fast_median):.2f} (median)")
    print(f"  fast vs reference: {ref_fastest / fast_fastest:.1f}x (fastest), {ref_median / fast_median:.1f}x (median)")
    print(f"  fast vs Python (goal >= 30x): {py_fastest / fast_fastest:.1f}x (fastest), "
          f"{py_median / fast_median:.1f}x (median)")
    print(f"  reference vs Python: {py_median / ref_median:.1f}x (median)")
    print(f"  (Python's total: gross {total[0]}, net {total[1]}, tax {total[2]}, {len(lines)} lines)")


if __name__ == "__main__":
    main()
