"""Checks that every dev-profile build `make test` makes resolves the same features for every
crate, so that they share compiled dependencies (docs/performance.md, "make test: where the time
goes"). The builds, by the package selection and targets cargo resolves features for:

  all targets, whole workspace   clippy --all-targets, `make e2e` (cargo test --workspace --test api)
  tests, all but the e2e crate   `make unit` (nextest/cargo test --workspace --exclude end-to-end-tests)
  no tests, whole workspace      cargo build --workspace --bins (contract, sam, the e2e stack's build)
                                 and `cargo lambda watch`'s `cargo run --bin <function>`

Resolver 2 counts dev-dependencies' features only when tests are built, so a feature only a
dev-dependency turns on splits the last line from the others: each such crate and everything above
it (often the AWS SDK and all of ours) is compiled twice. shared/workspace-hack turns those
features on for every whole-workspace build; this names what it misses. `cargo tree` only: no
compiling, about a second per shape.
"""

import collections
import re
import subprocess
import sys

SHAPES = {
    "all targets, whole workspace": ["--workspace"],
    "tests, all but end-to-end-tests": ["--workspace", "--exclude", "end-to-end-tests"],
    "no tests, whole workspace": ["--workspace", "--edges", "normal,build"],
}


def features(args):
    """{"name version": {features of each node}} of one shape (a crate built for the host and for
    the target can have two nodes)."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--prefix", "none", "--format", "{p} {f}", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    crates = collections.defaultdict(set)
    for line in out.splitlines():
        line = re.sub(r" \((\*|proc-macro|/[^)]*)\)", "", line).strip()
        if line:
            name, version, *rest = line.split(" ")
            crates[f"{name} {version}"].add(rest[0] if rest else "")
    return crates


def main():
    shapes = {name: features(args) for name, args in SHAPES.items()}
    (first, reference), *others = shapes.items()
    problems = []
    for name, crates in others:
        for crate in sorted(set(reference) & set(crates)):
            if reference[crate] != crates[crate]:
                problems.append(
                    f"  {crate}: {sorted(reference[crate])} ({first}) vs {sorted(crates[crate])} ({name})"
                )
    if problems:
        print("crates whose features differ between make test's builds (each is compiled once per set):")
        print("\n".join(problems))
        print("turn the missing features on in shared/workspace-hack/Cargo.toml")
        sys.exit(1)
    print(f"features: the same in all {len(SHAPES)} build shapes ({len(reference)} crates)")


if __name__ == "__main__":
    main()
