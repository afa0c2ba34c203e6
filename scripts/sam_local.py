"""SAM's own Lambda emulator on this machine: Docker, a Lambda base image built locally, and a
template derived from template.yaml that runs the functions built here.

No image registry is reachable here, so the base image is made with `docker import` from a tarball
of busybox-static (SAM's Dockerfile runs `sh`, `mv` and `chmod`), the dynamic loader and the
libraries the bootstraps link, and a CA bundle. SAM adds its Runtime Interface Emulator (shipped in
the aws-sam-cli package) on top (`--invoke-image IMAGE --skip-pull-image`).

SAM 1.170 ignores `--docker-network host`, so the functions reach moto and xero-local through the
gateway address of a Docker network the caller creates (`network`), where the local stack also
listens (scripts/local-stack.sh, ALSO_LISTEN_ON).

Used by tests/sam (make sam-invoke, make sam-start-api) and scripts/run-sam.sh (make run-sam).

    python scripts/sam_local.py docker            makes Docker available (or says why it cannot)
    python scripts/sam_local.py base-image        builds the base image if missing; prints its tag
    python scripts/sam_local.py start-api [PORT]  the whole API under `sam local start-api` on
                                                  127.0.0.1:PORT (default 3000) with the local
                                                  stack in .local/sam; Ctrl-C stops everything
"""

import hashlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUSYBOX = Path("/bin/busybox")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_NAME = "invoicing-lambda-base"
# The Debian packages this needs: Docker's engine, and a shell that needs no library.
PACKAGES = ["docker.io", "busybox-static"]


class Unavailable(Exception):
    """Docker cannot be made available on this machine; the message says why."""


def _docker_answers():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _busybox_is_static():
    if not BUSYBOX.is_file():
        return False
    ldd = subprocess.run(["ldd", str(BUSYBOX)], capture_output=True, text=True)
    return ldd.returncode != 0 or "not a dynamic executable" in ldd.stdout + ldd.stderr


def _apt_install(packages, log):
    if os.geteuid() != 0:
        raise Unavailable(f"installing {' '.join(packages)} needs root (apt-get), and this is uid {os.geteuid()}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # With recommends (cgroupfs-mount, tini for docker-init, iptables backends): the set tried here.
    install = ["apt-get", "install", "-y", "-q", *packages]
    with open(log, "ab") as out:
        if subprocess.run(install, stdout=out, stderr=out, env=env).returncode == 0:
            return
        # The package lists may be missing or stale on a fresh machine.
        subprocess.run(["apt-get", "update", "-q"], stdout=out, stderr=out, env=env)
        if subprocess.run(install, stdout=out, stderr=out, env=env).returncode == 0:
            return
    raise Unavailable(f"apt-get install {' '.join(packages)} failed: {_tail(log)}")


def _tail(path, lines=5):
    try:
        return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_docker(state_dir):
    """Makes Docker answer: installs the packages and starts dockerd when needed. Answers the pid
    of the dockerd it started (the caller stops it with `stop_docker`), or None if Docker was
    already running. Raises Unavailable with the reason otherwise."""
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "install.log"
    missing = [p for p, ok in (("docker.io", shutil.which("dockerd") and shutil.which("docker")),
                               ("busybox-static", _busybox_is_static())) if not ok]
    if missing:
        _apt_install(missing, log)
    if _docker_answers():
        return None
    if not shutil.which("dockerd"):
        raise Unavailable("Docker does not answer and there is no dockerd to start")
    if os.geteuid() != 0:
        raise Unavailable("Docker does not answer and starting dockerd needs root")
    dockerd_log = state_dir / "dockerd.log"
    with open(dockerd_log, "ab") as out:
        dockerd = subprocess.Popen(["dockerd"], stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if dockerd.poll() is not None:
            raise Unavailable(f"dockerd exited with {dockerd.returncode}: {_tail(dockerd_log)}")
        if _docker_answers():
            return dockerd.pid
        time.sleep(0.5)
    stop_docker(dockerd.pid)
    raise Unavailable(f"dockerd did not answer within 60 s: {_tail(dockerd_log)}")


def stop_docker(pid):
    """Stops a dockerd that `ensure_docker` started."""
    if pid is None:
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)


def machine_architecture():
    """SAM's name for this machine's architecture."""
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine().lower()]


def function_binaries():
    """Each function's binary (its folder's name) -> its logical id in template.yaml."""
    template = load_template(ROOT / "template.yaml")
    binaries = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            binaries[resource["Metadata"]["BuildProperties"]["Binary"]] = logical_id
    return binaries


def load_template(path):
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(Path(path).read_text())


def _linked_libraries(binaries):
    """The files (dynamic loader included) that `ldd` lists for these binaries."""
    libraries = set()
    for binary in binaries:
        ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
        for line in ldd.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > parts.index("=>") + 1 and parts[parts.index("=>") + 1].startswith("/"):
                libraries.add(parts[parts.index("=>") + 1])
            elif parts and parts[0].startswith("/"):
                libraries.add(parts[0])
    return sorted(libraries)


def _base_image_files(binaries):
    """(path in the image, file here) for everything the base image holds but directories."""
    files = [("/bin/busybox", BUSYBOX), ("/etc/ssl/certs/ca-certificates.crt", CA_BUNDLE)]
    files += [(library, Path(library)) for library in _linked_libraries(binaries)]
    return files


def base_image(binaries):
    """The tag of a Lambda base image that runs these binaries; built (once per content) if missing."""
    files = _base_image_files(binaries)
    digest = hashlib.sha256()
    for inside, here in files:
        digest.update(inside.encode())
        digest.update(here.resolve().read_bytes())
    tag = f"{IMAGE_NAME}:{digest.hexdigest()[:16]}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w") as tar:
        for directory, mode in (("tmp", 0o1777), ("var/task", 0o755), ("var/runtime", 0o755), ("opt", 0o755)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for inside, here in files:
            tar.add(str(here.resolve()), arcname=inside.lstrip("/"))
        applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet == "busybox":
                continue
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    subprocess.run(
        ["docker", "import", "--change", "ENV PATH=/bin:/usr/bin:/usr/local/bin", "-", tag],
        input=tarball.getvalue(),
        capture_output=True,
        check=True,
    )
    return tag


def create_network():
    """A Docker bridge network of our own; answers (name, gateway address)."""
    name = f"invoicing-sam-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "network", "create", name], capture_output=True, check=True)
    inspect = subprocess.run(
        ["docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", name],
        capture_output=True, text=True, check=True,
    )
    return name, inspect.stdout.strip()


def remove_network(name):
    """Removes the network and any container SAM left on it."""
    containers = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"network={name}"], capture_output=True, text=True
    ).stdout.split()
    if containers:
        subprocess.run(["docker", "rm", "-f", *containers], capture_output=True)
    subprocess.run(["docker", "network", "rm", name], capture_output=True)


def read_env_file(path):
    values = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def derived_template(out_dir, stack_env, host, target_dir=None):
    """Writes out_dir/template.yaml: template.yaml with each function's CodeUri a folder holding
    its `bootstrap` built for this machine (target/debug), this machine's architecture, no build
    method, and the local stack's settings (reached at `host`) as every function's environment.
    Answers its path."""
    from samcli.yamlhelper import yaml_dump

    out_dir = Path(out_dir)
    target_dir = Path(target_dir or os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug"
    stack = read_env_file(stack_env)
    local = lambda url: url.replace("127.0.0.1", host)  # noqa: E731
    environment = {
        "TABLE_NAME": stack["TABLE_NAME"],
        "EVENTS_TABLE_NAME": stack["EVENTS_TABLE_NAME"],
        "AWS_ENDPOINT_URL": local(stack["AWS_ENDPOINT_URL"]),
        "QUEUE_URL": local(stack["QUEUE_URL"]),
        "DELIVERY_QUEUE_URL": local(stack["DELIVERY_QUEUE_URL"]),
        "PUSH_QUEUE_URL": local(stack["PUSH_QUEUE_URL"]),
        "PULL_QUEUE_URL": local(stack["PULL_QUEUE_URL"]),
        "SECRETS_PREFIX": stack["SECRETS_PREFIX"],
        "MAX_RECEIVE_COUNT": stack["MAX_RECEIVE_COUNT"],
        "RUST_LOG": stack.get("RUST_LOG", "info"),
    }
    # The service's Xero app (customers' OAuth connections), pointed at xero-local.
    for name in ("XERO_CLIENT_ID", "XERO_AUTHORIZE_URL", "XERO_TOKEN_URL", "XERO_CONNECTIONS_URL",
                 "XERO_REVOCATION_URL", "XERO_API_BASE_URL", "XERO_REDIRECT_URI"):
        environment[name] = local(stack[name])
    template = load_template(ROOT / "template.yaml")
    function_globals = template["Globals"]["Function"]
    function_globals["Architectures"] = [machine_architecture()]
    function_globals["Environment"] = {"Variables": environment}
    function_globals.pop("CodeUri", None)
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource.pop("Metadata")["BuildProperties"]["Binary"]
        code = out_dir / "code" / binary
        code.mkdir(parents=True, exist_ok=True)
        bootstrap = code / "bootstrap"
        bootstrap.unlink(missing_ok=True)
        built = target_dir / binary
        if not built.is_file():
            raise FileNotFoundError(f"{built} is missing: build the functions first (cargo build --workspace --bins)")
        try:
            os.link(built, bootstrap)
        except OSError:
            shutil.copy2(built, bootstrap)
        resource["Properties"]["CodeUri"] = str(code)
        resource["Properties"].pop("Environment", None)
    path = out_dir / "template.yaml"
    path.write_text(yaml_dump(template))
    return path


def sam_environment():
    """The environment for `sam` itself: no telemetry, credentials for the containers (moto takes
    any), and none of the local endpoints (SAM's own calls would go there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return env


def sam_command():
    """The `sam` installed beside this Python (the project's .venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "sam"
    return str(beside) if beside.exists() else "sam"


def sam_invoke(template, logical_id, event, image, network, timeout=180):
    """Runs `sam local invoke` once; answers (the function's answer as JSON, SAM's and the
    function's log)."""
    command = [
        sam_command(), "local", "invoke", logical_id,
        "--template", str(template),
        "--event", str(event),
        "--invoke-image", image,
        "--skip-pull-image",
        "--docker-network", network,
        "--region", "us-east-1",
    ]
    run = subprocess.run(command, capture_output=True, text=True, env=sam_environment(), timeout=timeout, cwd=ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"sam local invoke {logical_id} exited with {run.returncode}:\n{run.stderr}\n{run.stdout}")
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"sam local invoke {logical_id} printed no answer:\n{run.stderr}")
    return json.loads(lines[-1]), run.stderr


def start_stack(directory, gateway, **settings):
    """scripts/local-stack.sh with moto and xero-local also on `gateway`, and no `cargo lambda
    watch` (SAM serves the functions). Raises if it does not start."""
    env = dict(os.environ, ALSO_LISTEN_ON=gateway, API="0", SQS_TRIGGER="0", **settings)
    start = subprocess.run([str(ROOT / "scripts" / "local-stack.sh"), "start", str(directory)], env=env, cwd=ROOT)
    if start.returncode != 0:
        raise RuntimeError(f"the local stack did not start (logs in {directory})")


def stop_stack(directory):
    subprocess.run([str(ROOT / "scripts" / "local-stack.sh"), "stop", str(directory)], cwd=ROOT)


def start_api_command(template, image, network, port, *extra):
    """`sam local start-api` for the derived template on 127.0.0.1:port."""
    return [
        sam_command(), "local", "start-api",
        "--template", str(template),
        "--host", "127.0.0.1", "--port", str(port),
        "--invoke-image", image, "--skip-pull-image",
        "--docker-network", network,
        "--region", "us-east-1",
        *extra,
    ]


def built_binaries():
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug"
    return [target / binary for binary in function_binaries()]


def serve(port):
    """The API under `sam local start-api`, until Ctrl-C."""
    directory = ROOT / ".local" / "sam"
    try:
        started = ensure_docker(ROOT / ".local" / "docker")
    except Unavailable as reason:
        print(f"error: Docker is not available: {reason}", file=sys.stderr)
        return 3
    network, gateway = create_network()
    try:
        start_stack(directory, gateway, STACK_NAME="sam")
        template = derived_template(directory / "sam", directory / "stack.env", gateway)
        image = base_image(built_binaries())
        print(f"==> API under sam local start-api on http://127.0.0.1:{port} (Ctrl-C stops everything)", flush=True)
        # Warm containers: each function starts once and then answers like a warm Lambda.
        api = subprocess.Popen(start_api_command(template, image, network, port, "--warm-containers", "LAZY"),
                               env=sam_environment(), cwd=ROOT)
        # Ctrl-C or a TERM: SAM stops on TERM and removes its warm containers (it may be ignoring
        # SIGINT when started from a script in the background).
        stop = lambda *_: api.terminate()  # noqa: E731
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        return api.wait()
    finally:
        stop_stack(directory)
        remove_network(network)
        stop_docker(started)


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "docker":
        try:
            pid = ensure_docker(ROOT / ".local" / "docker")
        except Unavailable as reason:
            print(f"Docker is not available: {reason}", file=sys.stderr)
            return 3
        print(f"Docker answers{f' (dockerd started, pid {pid})' if pid else ''}")
        return 0
    if command == "base-image":
        print(base_image(built_binaries()))
        return 0
    if command == "start-api":
        return serve(int(sys.argv[2]) if len(sys.argv) > 2 else 3000)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
