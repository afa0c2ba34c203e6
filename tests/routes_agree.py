"""One list of routes: each function's own manifest says what invokes it
(`[package.metadata.invoicing]` in functions/<name>/Cargo.toml: `route = "METHOD /path"`,
`queue = "<template queue>"` for an SQS consumer, `stream = "<template table>"` for a consumer of
a DynamoDB table's stream, or `schedule = "rate(...)"` / `"cron(...)"` for a function an EventBridge
schedule invokes), and everything else that names routes must agree with it: the local router (the
workspace Cargo.toml), template.yaml, openapi.yaml, events/ and the README's API table. Only routes
are in the router and openapi.yaml.

Run by `make routes` (part of `make test`): `pytest tests/routes_agree.py`.
"""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# What can invoke a function: an HTTP route, an SQS queue, a DynamoDB table's stream, or an
# EventBridge schedule.
TRIGGERS = {"route", "queue", "stream", "schedule"}
# The event source each queue's or stream's events/ records carry.
EVENT_SOURCES = {"queue": "aws:sqs", "stream": "aws:dynamodb"}
# SAM's two schedule event types, and the property that holds each one's expression.
SCHEDULE_EXPRESSIONS = {"Schedule": "Schedule", "ScheduleV2": "ScheduleExpression"}
# EventBridge's schedule expressions: `rate(1 minute)`, `rate(15 minutes)` (the unit singular
# exactly when the value is 1), or `cron(...)` with six fields.
RATE = re.compile(r"^rate\((?:1 (?:minute|hour|day)|(?!1 )[1-9][0-9]* (?:minutes|hours|days))\)$")
CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")


def functions():
    """{function name: ("route", "METHOD /path"), ("queue", name), ("stream", table) or ("schedule",
    expression)}, from the folders."""
    found = {}
    for folder in sorted((ROOT / "functions").iterdir()):
        manifest = tomllib.loads((folder / "Cargo.toml").read_text())
        package = manifest["package"]
        assert package["name"] == folder.name, f"{folder}: package and folder share the function's name"
        trigger = package["metadata"]["invoicing"]
        assert len(trigger) == 1 and set(trigger) <= TRIGGERS, f"{folder}: one route, one queue, one stream or one schedule"
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


def load_template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)


def get_att(value):
    """(logical id, attribute) of a `!GetAtt Resource.Attribute` (short or list form)."""
    target = value["GetAtt"]
    return tuple(target.split(".", 1)) if isinstance(target, str) else tuple(target)


def template_functions():
    template = load_template()
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
            queue, attribute = get_att(event["Properties"]["Queue"])
            assert attribute == "Arn", f"{logical_id}: the queue's Arn"
            found[binary] = ("queue", queue)
        elif event["Type"] == "DynamoDB":
            table, attribute = get_att(event["Properties"]["Stream"])
            assert attribute == "StreamArn", f"{logical_id}: the table's StreamArn"
            found[binary] = ("stream", table)
        elif event["Type"] in SCHEDULE_EXPRESSIONS:
            properties = event["Properties"]
            # A disabled schedule invokes nothing.
            assert properties.get("Enabled", True) is True, f"{logical_id}: the schedule is enabled"
            assert properties.get("State", "ENABLED") == "ENABLED", f"{logical_id}: the schedule is enabled"
            found[binary] = ("schedule", properties[SCHEDULE_EXPRESSIONS[event["Type"]]])
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


def test_every_queue_and_stream_a_function_names_is_in_the_template_and_every_schedule_is_one():
    resources = load_template()["Resources"]
    for name, (kind, value) in functions().items():
        if kind == "schedule":
            assert RATE.match(value) or CRON.match(value), f"{name}: {value!r} is not an EventBridge schedule"
        if kind == "queue":
            assert resources.get(value, {}).get("Type") == "AWS::SQS::Queue", f"{name}: no queue {value}"
        elif kind == "stream":
            table = resources.get(value, {})
            assert table.get("Type") == "AWS::DynamoDB::Table", f"{name}: no table {value}"
            assert "StreamViewType" in table["Properties"].get("StreamSpecification", {}), f"{name}: {value} has no stream"


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
        elif kind == "schedule":
            # What EventBridge sends for a scheduled rule.
            assert "Records" not in event and "routeKey" not in event, name
            assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {}), name
        else:
            source = EVENT_SOURCES[kind]
            assert event["Records"] and all(r["eventSource"] == source for r in event["Records"]), name
    events = {path.stem for path in (ROOT / "events").glob("*.json")}
    assert events == set(functions()), "one event file per function, and no other"


def test_the_readme_lists_every_route_with_its_function():
    readme = (ROOT / "README.md").read_text()
    api = readme.split("\n## API\n", 1)[1].split("\n## ", 1)[0]
    listed = {}
    rows = re.findall(
        r"^\| (?:`([^`]+)`|SQS queue `([^`]+)`|DynamoDB stream `([^`]+)`|EventBridge schedule `([^`]+)`) \| `([^`]+)` \|",
        api, re.M,
    )
    for route, queue, stream, schedule, function in rows:
        assert function not in listed, f"{function} is listed twice"
        if queue:
            listed[function] = ("queue", queue)
        elif stream:
            listed[function] = ("stream", stream)
        elif schedule:
            listed[function] = ("schedule", schedule)
        else:
            listed[function] = ("route", route.split("?")[0])
    assert listed == functions()
