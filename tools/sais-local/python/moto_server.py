"""moto_server, with DynamoDB's conditional writes atomic as they are in AWS.

moto's server answers each request on its own thread, and its DynamoDB model reads an item,
evaluates the condition and writes the item without a lock: two conditional writes to one item
that arrive together can both pass (two `attribute_not_exists(pk)` puts both "win"). DynamoDB
itself applies each write to an item atomically, and the service depends on it: the intent put
is what makes a message go once. This runs moto's own server with every DynamoDB request taken
one at a time, so the local stack keeps that guarantee. Everything else (arguments, S3, SQS,
Secrets Manager) is moto_server unchanged.

Run it with the project's virtualenv: `.venv/bin/python tools/sais-local/python/moto_server.py
-H 127.0.0.1 -p 5000`.
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_one_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

if __name__ == "__main__":
    sys.exit(main())
