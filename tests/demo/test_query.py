"""`EchoQuery.from_query`: the echo streams' query parameters, each refusal naming its parameter."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.test import override_settings

from echo.demo.query import EchoQuery, QueryError


def parse(query: str) -> EchoQuery:
    return EchoQuery.from_query(QueryDict(query))


def refused(query: str) -> list[str]:
    """The parameters named by the refusal of `query`."""
    with pytest.raises(QueryError) as info:
        parse(query)
    assert str(info.value)
    for error in info.value.errors:
        assert error["detail"], error
    return [error["parameter"] for error in info.value.errors]


def test_message_alone_takes_the_defaults() -> None:
    assert parse("message=hi") == EchoQuery(message="hi", interval=1.0, limit=None)


@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("0.5", 0.5), ("3600", 3600.0), ("2.25", 2.25)])
def test_interval_in_range_is_accepted(value: str, expected: float) -> None:
    assert parse(f"message=hi&interval={value}").interval == expected


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("1000000", 1_000_000)])
def test_limit_in_range_is_accepted(value: str, expected: int) -> None:
    assert parse(f"message=hi&limit={value}").limit == expected


@pytest.mark.parametrize("message", ["x", "x" * 1000, "é" * 1000, "a b&c=d", "\n"])
def test_message_up_to_the_limit_is_accepted(message: str) -> None:
    query = QueryDict(mutable=True)
    query["message"] = message
    assert EchoQuery.from_query(QueryDict(query.urlencode())).message == message


def test_unknown_parameters_are_ignored() -> None:
    assert parse("message=hi&other=1").message == "hi"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("", "message"),
        ("interval=1", "message"),
        ("message=", "message"),
        ("message=" + "x" * 1001, "message"),
        ("message=hi&interval=-1", "interval"),
        ("message=hi&interval=-0.001", "interval"),
        ("message=hi&interval=3601", "interval"),
        ("message=hi&interval=3600.5", "interval"),
        ("message=hi&interval=nan", "interval"),
        ("message=hi&interval=NaN", "interval"),
        ("message=hi&interval=inf", "interval"),
        ("message=hi&interval=-inf", "interval"),
        ("message=hi&interval=Infinity", "interval"),
        ("message=hi&interval=abc", "interval"),
        ("message=hi&interval=", "interval"),
        ("message=hi&limit=0", "limit"),
        ("message=hi&limit=-1", "limit"),
        ("message=hi&limit=1000001", "limit"),
        ("message=hi&limit=1.5", "limit"),
        ("message=hi&limit=x", "limit"),
        ("message=hi&limit=1.0", "limit"),
        ("message=hi&limit=1_000", "limit"),
        ("message=hi&limit=%201", "limit"),
        ("message=hi&limit=+1", "limit"),
        ("message=hi&interval=1e1", "interval"),
        ("message=hi&interval=1_0", "interval"),
        ("message=hi&limit=", "limit"),
        ("message=a&message=b", "message"),
        ("message=hi&interval=1&interval=2", "interval"),
        ("message=hi&limit=1&limit=1", "limit"),
    ],
)
def test_bad_parameter_is_refused_by_name(query: str, parameter: str) -> None:
    assert set(refused(query)) == {parameter}


def test_every_bad_parameter_is_named() -> None:
    assert sorted(refused("interval=x&limit=0")) == ["interval", "limit", "message"]


@pytest.mark.parametrize("parameter", ["message", "interval", "limit"])
def test_duplicated_parameter_is_refused_as_such(parameter: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(f"message=hi&{parameter}=1&{parameter}=1")
    assert {"parameter": parameter, "detail": "given more than once"} in info.value.errors


def test_query_error_is_a_value_error() -> None:
    assert issubclass(QueryError, ValueError)


def test_message_limit_follows_the_echo_setting() -> None:
    with override_settings(ECHO={"MESSAGE_MAX_LENGTH": 5}):
        assert parse("message=12345").message == "12345"
        assert refused("message=123456") == ["message"]
    assert parse("message=123456").message == "123456"
