"""schemathesis hooks for scripts/contract_test.sh (loaded through SCHEMATHESIS_HOOKS).

Both concern `cargo lambda watch`, the local stand-in for API Gateway, and never a function's answer.

`filter_case`: the emulator answers some requests with its own 500
before any function runs: header values outside ASCII and bodies that are not UTF-8 text cannot be
put in the JSON event it hands to a function. API Gateway delivers both, and the functions answer
them 400 (a header that is not ASCII is refused by the HTTP edge, a body that is not JSON by the
parser). Those requests test the emulator, not the API, so they are left out here.
"""

import requests
import schemathesis

# What `cargo lambda watch` itself answers when it fails to relay an invocation: no detail and no
# Sequence-Version header (every answer of the API's HTTP edge carries one).
EMULATOR_500 = b'{"type":"https://httpstatuses.com/500","status":500,"title":"Internal Server Error"}'


def _deliverable(value) -> bool:
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            return False
    return True


@schemathesis.hook
def filter_case(context, case) -> bool:
    for value in (case.headers or {}).values():
        if isinstance(value, str) and not value.isascii():
            return False
    return _deliverable(case.body)


def _emulator_failure(response) -> bool:
    return (
        response.status_code == 500
        and response.content == EMULATOR_500
        and "sequence-version" not in {name.lower() for name in response.headers}
    )


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keeps every failure except the emulator's occasional 500 when relaying a large answer
    (hundreds of KB; a Lambda answer may be 6 MB): the same request is sent again, and the failure
    is dropped only if the emulator then relays the function's answer. One that reproduces stays."""
    if not _emulator_failure(response):
        return True
    sent = response.request
    for _ in range(3):
        again = requests.request(sent.method, sent.url, headers=dict(sent.headers), data=sent.body, timeout=120)
        if not (again.status_code == 500 and again.content == EMULATOR_500 and "sequence-version" not in again.headers):
            return False
    return True
