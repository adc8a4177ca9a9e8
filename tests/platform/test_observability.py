from __future__ import annotations

import json
import logging

import pytest

from leadwire.platform.observability import JsonFormatter, lead_id_var, mask_pii, request_id_var


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("calling +15125550100 now", "calling +1512***0100 now"),
        ("email sarah@example.com ok", "email s***@example.com ok"),
        ("raw 5125550100", "raw 512***0100"),
        ("epoch ms 1795550101050 is not a phone", "epoch ms 1795550101050 is not a phone"),
        ("uuid 123e4567-e89b-12d3", "uuid 123e4567-e89b-12d3"),
    ],
)
def test_mask_pii(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_json_log_line_masks_message_extras_and_exceptions() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "lead from %s", ("sarah@example.com",), None
    )
    record.phone = "+15125550100"
    record.nested = {"to": ["+442071838750"]}
    try:
        raise ValueError("bad number +15125550100")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    token_r = request_id_var.set("req-1")
    token_l = lead_id_var.set("lead-1")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token_r)
        lead_id_var.reset(token_l)
    entry = json.loads(line)
    assert entry["msg"] == "lead from s***@example.com"
    assert entry["phone"] == "+1512***0100"
    assert entry["nested"] == {"to": ["+4420***8750"]}
    assert entry["request_id"] == "req-1"
    assert entry["lead_id"] == "lead-1"
    assert "5550100" not in entry["exc"].replace("***0100", "")
