"""The local stack's DynamoDB applies conditional writes one at a time, as DynamoDB does.

Eight writers race to create each of 150 items with `attribute_not_exists(pk)` (the dispatcher's
intent put). Python's thread switch interval is shortened to make moto's unlocked
read-check-write window easy to hit: plain moto then lets two or more writers win some items;
the local stack's server must let exactly one win every item.
"""

import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import moto_server  # noqa: E402,F401  (patches moto's DynamoDB handler on import)
from moto.server import ThreadedMotoServer  # noqa: E402


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url, target, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-2/dynamodb/aws4_request, SignedHeaders=host, Signature=test",
        },
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_one_conditional_put_wins_each_item_however_many_race_for_it():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert _call(url, "CreateTable", {
            "TableName": "intents",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }) == 200
        winners = {}
        for key in range(150):
            barrier = threading.Barrier(8)
            wins = []

            def race():
                barrier.wait()
                status = _call(url, "PutItem", {
                    "TableName": "intents",
                    "Item": {"pk": {"S": f"message-{key}"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                })
                if status == 200:
                    wins.append(status)

            threads = [threading.Thread(target=race) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winners[key] = len(wins)
        assert all(n == 1 for n in winners.values()), {k: n for k, n in winners.items() if n != 1}
    finally:
        sys.setswitchinterval(interval)
        server.stop()
