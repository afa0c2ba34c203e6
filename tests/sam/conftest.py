"""SAM's own Lambda emulator against the local stack (scripts/sam_local.py): Docker made available
(or the reason it cannot be, printed), a base image built here, a Docker network of our own whose
gateway moto and xero-local also listen on, and a template that runs the functions built here."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import sam_local  # noqa: E402


@pytest.fixture(scope="session")
def docker():
    """Docker, installed and started if need be; stopped afterwards if this run started it."""
    try:
        started = sam_local.ensure_docker(ROOT / ".local" / "docker")
    except sam_local.Unavailable as reason:
        message = f"SAM tests not run: Docker is not available here: {reason}"
        print(f"\n{message}", file=sys.stderr)
        pytest.skip(message)
    yield
    sam_local.stop_docker(started)


@pytest.fixture(scope="session")
def network(docker):
    """(name, gateway address) of a Docker network made for this run."""
    name, gateway = sam_local.create_network()
    yield name, gateway
    sam_local.remove_network(name)


class Stack:
    """A local stack reachable from SAM's containers, and the template that runs the functions."""

    def __init__(self, directory, network, gateway, image, template):
        self.directory = directory
        self.network = network
        self.gateway = gateway
        self.image = image
        self.template = template
        self.functions = sam_local.function_binaries()

    def invoke(self, function, event):
        """`sam local invoke` of a function (its folder's name) with an event file."""
        answer, log = sam_local.sam_invoke(self.template, self.functions[function], event, self.image, self.network)
        return answer, log


@pytest.fixture(scope="module")
def stack(network, tmp_path_factory):
    """A fresh local stack per test module (each module tells the events' story from the start)."""
    name, gateway = network
    directory = tmp_path_factory.mktemp("stack")
    try:
        sam_local.start_stack(directory, gateway, STACK_NAME="sam")
        image = sam_local.base_image(sam_local.built_binaries())
        template = sam_local.derived_template(directory / "sam", directory / "stack.env", gateway)
        yield Stack(directory, name, gateway, image, template)
    finally:
        sam_local.stop_stack(directory)
