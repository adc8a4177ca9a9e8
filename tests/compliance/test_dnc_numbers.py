"""DNC file lines -> E.164 digits (reference 2.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadwire.compliance.dnc_numbers import DncParseStats, iter_dnc_numbers, parse_dnc_number


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("5125550100", 15125550100),
        ("  5125550100 \n", 15125550100),
        ("15125550100", 15125550100),
        ("+15125550100", 15125550100),
        ("+1 (512) 555-0100", 15125550100),
        ("512-555-0100", 15125550100),
        ("512.555.0100", 15125550100),
        ("512,5550100", 15125550100),  # registry area-code file
        ("512, 555-0100", 15125550100),
        ("512,5550100,A,2026-11-01", 15125550100),  # change-list style extra fields
        ("5125550100,Sarah,2026-01-01", 15125550100),  # CSV, number first
        ('"5125550100","Sarah"', 15125550100),
        ("5125550100\tSarah", 15125550100),
        ("5125550100;Sarah", 15125550100),
        ("\ufeff5125550100", 15125550100),  # byte-order mark on the first line
    ],
)
def test_accepted_shapes(line: str, number: int) -> None:
    assert parse_dnc_number(line) == number
    assert list(iter_dnc_numbers([line])) == [number]


@pytest.mark.parametrize(
    "line",
    [
        "phone,name",  # a header
        "1125550100",  # area code starting with 1
        "0125550100",
        "5121550100",  # exchange starting with 1
        "512555010",  # nine digits
        "51255501000",  # eleven digits not starting with 1
        "+445125550100",  # not North American
        "+25125550100",
        "512,555010",
        "５１２５５５０１００",  # full-width digits
        "call 5125550100",
    ],
)
def test_rejected_lines(line: str) -> None:
    stats = DncParseStats()
    assert list(iter_dnc_numbers([line], stats=stats)) == []
    assert (stats.accepted, stats.rejected, stats.skipped) == (0, 1, 0)
    assert parse_dnc_number(line) is None


def test_counts_and_skips() -> None:
    lines = [
        "# national registry, area code 512",
        "",
        "5125550100",
        "   ",
        "bad line",
        "512,5550101",
        "+15125550102",
        "0000000000",
    ]
    stats = DncParseStats()
    numbers = list(iter_dnc_numbers(lines, stats=stats))
    assert numbers == [15125550100, 15125550101, 15125550102]
    assert (stats.lines, stats.accepted, stats.rejected, stats.skipped) == (8, 3, 2, 3)
    assert stats.rejected_lines == [5, 8]


def test_rejected_sample_is_bounded_and_holds_line_numbers_only() -> None:
    stats = DncParseStats()
    list(iter_dnc_numbers(["x"] * 100, stats=stats))
    assert stats.rejected == 100
    assert stats.rejected_lines == list(range(1, 21))


def test_lazy_generator_over_a_large_input() -> None:
    lines = (f"{2125550000 + i}" for i in range(200_000))
    stats = DncParseStats()
    total = sum(1 for _ in iter_dnc_numbers(lines, stats=stats))
    assert total == stats.accepted == stats.lines == 200_000
    assert max(iter_dnc_numbers(["9999999999"])) < 2**63


@settings(max_examples=100, deadline=None)
@given(
    npa=st.integers(200, 999),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    shape=st.sampled_from(["{d}", "+1{d}", "1{d}", "{a},{r}", "({a}) {x}-{n}", "{d},x,y"]),
)
def test_every_shape_round_trips(npa: int, exchange: int, line: int, shape: str) -> None:
    digits = f"{npa}{exchange}{line:04d}"
    text = shape.format(d=digits, a=digits[:3], r=digits[3:], x=digits[3:6], n=digits[6:])
    assert parse_dnc_number(text) == int("1" + digits)
