"""Log lines never carry secrets, and JSON lines carry the request context."""

from __future__ import annotations

import json
import logging

import pytest

from millrace_broker.observability.log_format import JsonFormatter, redact, request_context

SECRET_LINES = [
    (
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common."
        'security.scram.ScramLoginModule required username="alice" password="s3cr3t-pw";',
        "s3cr3t-pw",
    ),
    ("ssl.keystore.password=s3cr3t-pw", "s3cr3t-pw"),
    ("ssl.key.password: s3cr3t-pw, ssl.client.auth=none", "s3cr3t-pw"),
    ('{"salted_password": "c2VjcmV0LXNhbHRlZA==", "iterations": 4096}', "c2VjcmV0LXNhbHRlZA=="),
    ("SCRAM-SHA-512=[iterations=8192,password=s3cr3t-pw]", "s3cr3t-pw"),
    ('user_alice="s3cr3t-pw" password=s3cr3t-pw', "s3cr3t-pw"),
]


@pytest.mark.parametrize(("line", "secret"), SECRET_LINES)
def test_secrets_are_masked_and_the_key_stays(line: str, secret: str) -> None:
    masked = redact(line)
    assert secret not in masked
    assert "[redacted]" in masked


def test_ordinary_lines_are_untouched() -> None:
    line = "listening on PLAINTEXT://127.0.0.1:9092 (cluster abc, 3 partitions, iterations 4096)"
    assert redact(line) == line


def test_json_lines_carry_the_request_and_mask_secrets() -> None:
    record = logging.LogRecord(
        "millrace_broker.test",
        logging.WARNING,
        __file__,
        1,
        "bad login %s",
        ("password=pw1",),
        None,
    )
    token = request_context.set({"api_key": 36, "client_id": "app", "principal": "User:bob"})
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_context.reset(token)
    assert entry["level"] == "WARNING"
    assert entry["request"] == {"api_key": 36, "client_id": "app", "principal": "User:bob"}
    assert "pw1" not in entry["message"]
    outside = json.loads(JsonFormatter().format(record))
    assert "request" not in outside
