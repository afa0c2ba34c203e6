"""`sam local start-api` serves every route: one HTTP request per route, built from its events/
file, in the order of story.STORY (the queue and stream consumers and the scheduled sweep, which
have no route, are invoked as SAM would from their queue, stream or schedule)."""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import sam_local
from story import ROOT, STORY, Answer, check, lambda_answer, parse_body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api(stack):
    """`sam local start-api` on a free loopback port; stopped afterwards."""
    port = free_port()
    log = open(stack.directory / "sam-start-api.log", "w")
    command = sam_local.start_api_command(stack.template, stack.image, stack.network, port)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=sam_local.sam_environment(),
                              cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"sam local start-api exited; see {log.name}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"sam local start-api did not listen; see {log.name}"
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()  # SAM stops on TERM and removes its containers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def request_from_event(base_url, event):
    query = f"?{event['rawQueryString']}" if event.get("rawQueryString") else ""
    headers = {k: v for k, v in event["headers"].items() if k != "host"}
    body = event.get("body")
    return urllib.request.Request(
        f"{base_url}{event['rawPath']}{query}",
        method=event["requestContext"]["http"]["method"],
        headers=headers,
        data=body.encode() if body is not None else None,
    )


def send(request):
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    headers = {k.lower(): v for k, v in headers.items()}
    return Answer(status=status, headers=headers, body=parse_body(raw, headers))


def test_sam_local_start_api_serves_every_route(stack, api):
    served = []
    consumers = 0
    for step in STORY:
        event = json.loads(step.event.read_text())
        if step.status is None:  # no route: a queue's, stream's or schedule's event
            answer, _ = stack.invoke(step.function, step.event)
            check(step, lambda_answer(step, answer))
            consumers += 1
            continue
        check(step, send(request_from_event(api, event)))
        served.append(event["routeKey"])
    assert len(served) == len(set(served)) == len(stack.functions) - consumers  # every route once
