"""moto_server, applying one DynamoDB request at a time (and copying tables once per transaction).

moto's TransactWriteItems is not atomic across concurrent requests: a transaction whose condition
fails restores a snapshot of every table it touched, undoing writes that other requests made in the
meantime. DynamoDB never does that. Serializing DynamoDB requests (connections are still served by
threads, and other services, such as SQS long polls, are not held up) makes the local server keep
DynamoDB's guarantees, which the concurrency tests depend on.

Usage: python serialized_moto.py -H 127.0.0.1 -p 5050
"""

import argparse
import copy
import threading

import moto.dynamodb.models as dynamodb_models

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class _CopyEachTableOnce:
    """Stands in for the `copy` module inside moto's TransactWriteItems, which deep-copies a whole
    table (for rollback) once per item of the transaction: 100 copies of a large table for one
    100-item transaction. One copy per table gives the same rollback."""

    def __init__(self):
        self.tables = {}

    def deepcopy(self, value, *args, **kwargs):
        if type(value).__name__ != "Table":
            return copy.deepcopy(value, *args, **kwargs)
        if id(value) not in self.tables:
            self.tables[id(value)] = copy.deepcopy(value, *args, **kwargs)
        return self.tables[id(value)]

    def __getattr__(self, name):
        return getattr(copy, name)


_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items_copying_once(self, transact_items):
    # Safe to swap the module's `copy` here: DynamoDB requests run one at a time (see Serialized).
    dynamodb_models.copy = _CopyEachTableOnce()
    try:
        return _transact_write_items(self, transact_items)
    finally:
        dynamodb_models.copy = copy


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items_copying_once


class Serialized:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, Serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
