"""One list of routes: each function's own manifest says what invokes it
(`[package.metadata.invoicing]` in functions/<name>/Cargo.toml: `route = "METHOD /path"`, or
`queue = "<template queue>"`), and everything else that names routes must agree with it: the local
router (the workspace Cargo.toml), template.yaml, openapi.yaml, events/ and the README's API table.

Run by `make routes` (part of `make test`): `pytest tests/routes_agree.py`.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def functions():
    """{function name: ("route", "METHOD /path") or ("queue", name)}, from the folders."""
    found = {}
    for folder in sorted((ROOT / "functions").iterdir()):
        manifest = tomllib.loads((folder / "Cargo.toml").read_text())
        package = manifest["package"]
        assert package["name"] == folder.name, f"{folder}: package and folder share the function's name"
        trigger = package["metadata"]["invoicing"]
        assert len(trigger) == 1 and set(trigger) <= {"route", "queue"}, f"{folder}: one route or one queue"
        (kind, value), = trigger.items()
        found[folder.name] = (kind, value)
    return found


def http_routes():
    return {name: value for name, (kind, value) in functions().items() if kind == "route"}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`...) as plain values."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


CloudFormationLoader.add_multi_constructor("!", _tag)


def template_functions():
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        assert binary not in found, f"{binary} is built twice"
        events = list(resource["Properties"].get("Events", {}).values())
        assert len(events) == 1, f"{logical_id}: one event source"
        event = events[0]
        if event["Type"] == "HttpApi":
            found[binary] = ("route", f'{event["Properties"]["Method"]} {event["Properties"]["Path"]}')
        elif event["Type"] == "SQS":
            queue = event["Properties"]["Queue"]["GetAtt"]
            found[binary] = ("queue", queue.split(".")[0] if isinstance(queue, str) else queue[0])
        else:
            pytest.fail(f"{logical_id}: unexpected event type {event['Type']}")
    return found


def test_every_function_has_one_trigger_and_the_workspace_router_serves_exactly_the_routes():
    router = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["watch"]["router"]
    served = {}
    for path, entries in router.items():
        for entry in entries:
            assert entry["function"] not in served, f"{entry['function']} is routed twice"
            served[entry["function"]] = f'{entry["method"]} {path}'
    assert served == http_routes()


def test_template_builds_every_function_with_its_event():
    assert template_functions() == functions()


def test_openapi_describes_exactly_the_routes():
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    described = {
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "put", "post", "delete", "patch"}
    }
    assert described == set(http_routes().values())


def test_every_function_has_an_event_that_invokes_it():
    for name, (kind, value) in functions().items():
        event = json.loads((ROOT / "events" / f"{name}.json").read_text())
        if kind == "route":
            method, path = value.split(" ", 1)
            assert event["routeKey"] == value, name
            assert event["requestContext"]["http"]["method"] == method, name
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"
            assert re.match(pattern, event["rawPath"]), f"{name}: {event['rawPath']} is not {path}"
        else:
            assert event["Records"] and all(r["eventSource"] == "aws:sqs" for r in event["Records"]), name
    events = {path.stem for path in (ROOT / "events").glob("*.json")}
    assert events == set(functions()), "one event file per function, and no other"


def test_the_readme_lists_every_route_with_its_function():
    readme = (ROOT / "README.md").read_text()
    api = readme.split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    listed = {}
    for route, queue, function in re.findall(r"^\| (?:`([^`]+)`|SQS queue `([^`]+)`) \| `([^`]+)` \|", api, re.M):
        listed[function] = ("queue", queue) if queue else ("route", route.split("?")[0])
    assert listed == functions()
