"""The programs in examples/ run, against the sandbox, and give the right answers.

Each example is imported from its file and its functions are run against a sandbox whose
data is the truth to compare with; then every file is run as a user would
(``python examples/NAME.py``), in a subprocess whose default ledger location is a temporary
directory, which must stay empty: examples never count into a user's real ledger.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from maxxton_async.testing import sandbox
from tests._redis_util import delete_prefix, require_redis, unique_prefix

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (registered in ``sys.modules``, as dataclasses need)."""
    module_name = f"example_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested() -> None:
    here = Path(__file__).read_text()
    for path in EXAMPLES.glob("*.py"):
        assert f'load("{path.stem}")' in here, f"{path.name} has no test"


# -- reservations arriving next month, with customer names --------------------------------


def test_next_month_rolls_over_the_year() -> None:
    nm = load("arrivals_next_month").next_month
    assert nm(dt.date(2026, 12, 5)) == (dt.date(2027, 1, 1), dt.date(2027, 2, 1))
    assert nm(dt.date(2026, 11, 30)) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    assert nm(dt.date(2027, 1, 31)) == (dt.date(2027, 2, 1), dt.date(2027, 3, 1))


async def test_arrivals_next_month_are_every_reservation_of_the_month_with_names() -> None:
    ex = load("arrivals_next_month")
    today = dt.date(2026, 12, 5)
    async with sandbox(seed=1, start_date=dt.date(2027, 1, 1)) as sb, sb.client() as client:
        arrivals = await ex.arrivals_next_month(client, today)
        data = sb.data
    want = {
        rid
        for rid, r in data.reservations.items()
        if "2027-01-01" <= r["arrivalDate"] < "2027-02-01"
    }
    assert want, "the sandbox has arrivals in the month"
    assert [a.reservation_id for a in arrivals if a.reservation_id in want] == [
        a.reservation_id for a in arrivals
    ]
    assert {a.reservation_id for a in arrivals} == want
    assert [a.arrival for a in arrivals] == sorted(a.arrival for a in arrivals)
    for a in arrivals:
        customer = data.customers[data.reservations[a.reservation_id]["customerId"]]
        assert a.customer == f"{customer['firstName']} {customer['lastName']}"


async def test_arrivals_main_prints_the_month(capsys: pytest.CaptureFixture[str]) -> None:
    arrivals = await load("arrivals_next_month").main(dt.date(2026, 12, 5))
    out = capsys.readouterr().out
    assert f"{len(arrivals)} reservations arriving next month" in out
    assert all(dt.date(2027, 1, 1) <= a.arrival < dt.date(2027, 2, 1) for a in arrivals)


# -- a 3-month harvest queried for the cheapest week ------------------------------------


async def test_cheapest_week_is_the_cheapest_seven_night_stay(tmp_path: Path) -> None:
    ex = load("cheapest_week")
    index = tmp_path / "prices.sqlite"
    async with sandbox(seed=1) as sb, sb.client() as client:
        start = sb.data.start_date
        await ex.harvest_three_months(client, index, start, channel_code="WEB")
        week = await ex.cheapest_week(client, index)
        data = sb.data
    stays = []
    for rid, at in data.accommodation_types.items():
        for offset in range(90):
            arrival = start + dt.timedelta(days=offset)
            rec = None if at["archived"] else data.availability(rid, arrival, 7)
            if rec is not None:
                stays.append((min(p["price"] for p in rec["prices"]), arrival, rid))
    price, arrival, rid = min(stays)
    assert week is not None
    assert (week.resource_id, week.arrival, week.price) == (rid, arrival, pytest.approx(price))
    assert week.name == data.accommodation_types[rid]["name"]


async def test_cheapest_week_main_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    week = await load("cheapest_week").main()
    assert week is not None
    assert f"arriving {week.arrival}" in capsys.readouterr().out


# -- a webhook receiver -------------------------------------------------------------------


async def test_webhook_receiver_gets_each_delivery_verified_once() -> None:
    received = await load("webhook_receiver").main()
    types = [n.type for n in received]
    assert {
        "reservation.status_change",
        "reservation.stay_period_change",
        "reservation.bill_change",
    } <= set(types)
    assert len({n.notification_id for n in received}) == len(received)


# -- a Redis fleet ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_redis_fleet_processes_share_one_cap_one_token_one_ledger() -> None:
    url = require_redis()
    report = await load("redis_fleet").main(workers=3, calls=40, redis_url=url)
    assert report.peak_in_flight <= 15
    assert report.refused == 0
    assert report.token_calls == 1
    assert report.server_requests >= 3 * 40 + 1
    assert report.counted == report.server_requests  # every attempt of every process counted


# -- as a user runs them ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("arrivals_next_month", "reservations arriving next month"),
        ("cheapest_week", "cheapest week:"),
        ("webhook_receiver", "deliveries received"),
        ("redis_fleet", "in the shared ledger"),
    ],
)
def test_example_runs_as_a_script_without_touching_the_default_ledger(
    name: str, expect: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAXXTON_USAGE_DB"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES.parent), env.get("PYTHONPATH", "")])
    prefix = None
    if name == "redis_fleet":
        env["MAXXTON_REDIS_URL"] = require_redis()
        prefix = unique_prefix("example")
    try:
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / f"{name}.py"), *(["2", "10"] if prefix else [])],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=tmp_path,
        )
    finally:
        if prefix is not None:
            delete_prefix(env["MAXXTON_REDIS_URL"], prefix)
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "cache").exists()
