"""Tests for seawall.retry.RetryBudget and NoopRetryBudget (Finagle's RetryBudget semantics)."""

from __future__ import annotations

import dataclasses
import math
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.retry import Budget, NoopRetryBudget, RetryBudget
from seawall.testing import MockClock


def _budget(**kwargs: float) -> tuple[RetryBudget, MockClock]:
    clock = MockClock()
    return RetryBudget(clock=clock, **kwargs), clock


def test_satisfies_budget_protocol() -> None:
    """RetryBudget and NoopRetryBudget are Budgets."""
    assert isinstance(RetryBudget(), Budget)
    assert isinstance(NoopRetryBudget(), Budget)


def test_default_reserve_is_min_retries_times_ttl() -> None:
    """Finagle's defaults (10 s, 10/s, 20%) give a fresh client a reserve of 100 retries."""
    budget, _ = _budget()
    assert budget.balance == 100
    assert sum(budget.try_withdraw() for _ in range(101)) == 100
    assert budget.balance == 0


def test_twenty_percent_of_one_hundred_deposits() -> None:
    """With no reserve and 20%, 100 deposits buy exactly 20 retries; the 21st is refused."""
    budget, _ = _budget(min_retries_per_sec=0, percent_can_retry=0.2)
    for _ in range(100):
        budget.deposit()
    assert budget.balance == 20
    assert [budget.try_withdraw() for _ in range(21)] == [True] * 20 + [False]


def test_refused_withdrawal_leaves_balance_untouched() -> None:
    """A refused try_withdraw takes nothing: four deposits at 20% plus one more still buy a retry."""
    budget, _ = _budget(min_retries_per_sec=0, percent_can_retry=0.2)
    for _ in range(4):
        budget.deposit()
    assert not budget.try_withdraw()
    budget.deposit()
    assert budget.try_withdraw()


# Finagle's RetryBudgetTest "testBudget": interleave deposit/tryWithdraw 10_000 times with time frozen;
# the retries granted are n * percent + ttl * min_retries_per_sec, within 1 (ScaleFactor rounding).
@pytest.mark.parametrize(
    ("ttl", "min_retries_per_sec", "percent"),
    [
        (60, 0, 0.1),
        (60, 0, 0.5),
        (60, 0, 0.25),
        (60, 0, 0.75),
        (60, 0, 0.99),
        (60, 0, 0.999),
        (60, 0, 0.9999),
        (60, 0, 0.01),
        (60, 0, 0.001),
        (60, 0, 0.0001),
        (1, 10, 0.0),
        (2, 5, 0.0),
        (1, 10, 0.1),
        (2, 5, 0.5),
    ],
)
def test_finagle_budget_vectors(ttl: float, min_retries_per_sec: float, percent: float) -> None:
    """Finagle's published vectors: retries granted = n * percent + reserve (+-1), balance 0 on refusal."""
    budget, _ = _budget(ttl=ttl, min_retries_per_sec=min_retries_per_sec, percent_can_retry=percent)
    reserve = int(ttl * min_retries_per_sec)
    assert budget.balance == reserve
    n = 10_000
    retried = 0
    for _ in range(n):
        budget.deposit()
        if budget.try_withdraw():
            retried += 1
        else:
            assert budget.balance == 0
    assert abs(retried - (int(n * percent) + reserve)) <= 1


def test_percent_above_one_allows_several_retries_per_deposit() -> None:
    """Finagle: with percent_can_retry=2.0, 10_000 deposits give a balance of 20_000."""
    budget, _ = _budget(ttl=60, min_retries_per_sec=0, percent_can_retry=2.0)
    assert not budget.try_withdraw()
    for _ in range(10_000):
        budget.deposit()
    assert budget.balance == 20_000


def test_zero_reserve_and_zero_percent_never_allows() -> None:
    """Finagle's Empty budget: no reserve and 0% allow nothing, whatever is deposited."""
    budget, _ = _budget(min_retries_per_sec=0, percent_can_retry=0)
    for _ in range(1000):
        budget.deposit()
    assert budget.balance == 0
    assert not budget.try_withdraw()


def test_deposits_expire_after_ttl() -> None:
    """Deposits count for the ttl: 100 at t=0 still buy 20 retries at 9.99 s, none at 10 s."""
    budget, clock = _budget(min_retries_per_sec=0)
    for _ in range(100):
        budget.deposit()
    clock.jump(9.99)
    assert budget.balance == 20
    clock.jump(0.01)
    assert budget.balance == 0
    assert not budget.try_withdraw()


def test_deposits_expire_between_nine_tenths_and_one_ttl() -> None:
    """The window moves in tenths of the ttl: a deposit made mid-slice expires 9.5 s later."""
    budget, clock = _budget(min_retries_per_sec=0, percent_can_retry=1.0)
    clock.jump(0.5)
    budget.deposit()
    clock.jump(9.49)
    assert budget.balance == 1
    clock.jump(0.01)
    assert budget.balance == 0


def test_window_slides_slice_by_slice() -> None:
    """Deposits made at different times expire one slice at a time, oldest first."""
    budget, clock = _budget(min_retries_per_sec=0, percent_can_retry=1.0)
    budget.deposit()
    clock.jump(3.0)
    budget.deposit()
    budget.deposit()
    clock.jump(7.0)  # t=10: the first deposit has expired
    assert budget.balance == 2
    clock.jump(3.0)  # t=13: all have
    assert budget.balance == 0


def test_reserve_refills_after_ttl() -> None:
    """With no traffic the reserve allows min_retries_per_sec * ttl retries, and again one ttl later."""
    budget, clock = _budget(ttl=10, min_retries_per_sec=10)
    assert sum(budget.try_withdraw() for _ in range(150)) == 100
    clock.jump(5.0)
    assert not budget.try_withdraw()
    clock.jump(5.0)
    assert sum(budget.try_withdraw() for _ in range(150)) == 100


def test_long_idle_forgets_everything() -> None:
    """After many ttls without calls the balance is the reserve again."""
    budget, clock = _budget(ttl=1, min_retries_per_sec=3)
    for _ in range(50):
        budget.deposit()
    clock.jump(1000.0)
    assert budget.balance == 3


def test_fractional_reserve_rounds_down() -> None:
    """The reserve is floor(min_retries_per_sec * ttl): 1.5 s at 1/s reserves one retry."""
    budget, _ = _budget(ttl=1.5, min_retries_per_sec=1, percent_can_retry=0)
    assert [budget.try_withdraw() for _ in range(2)] == [True, False]


def test_withdrawal_cost_rounds_down_like_finagle() -> None:
    """A withdrawal costs int(1000 / percent) tokens: at 30% it costs 3333, so 10 deposits buy 3 retries."""
    budget, _ = _budget(min_retries_per_sec=0, percent_can_retry=0.3)
    for _ in range(10):
        budget.deposit()
    assert budget.balance == 3  # 10_000 // 3333


def test_statistics() -> None:
    """statistics() counts deposits, granted and refused withdrawals, and reports the config."""
    budget, _ = _budget(min_retries_per_sec=0, percent_can_retry=0.5)
    budget.deposit()
    budget.deposit()
    budget.try_withdraw()
    budget.try_withdraw()
    stats = budget.statistics()
    assert (stats.deposits, stats.withdrawals, stats.rejected, stats.balance) == (2, 1, 1, 0)
    assert (stats.ttl, stats.min_retries_per_sec, stats.percent_can_retry) == (10.0, 0.0, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.balance = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0.5}, "ttl must be in"),
        ({"ttl": 61}, "ttl must be in"),
        ({"ttl": math.nan}, "ttl must be in"),
        ({"min_retries_per_sec": -1}, "min_retries_per_sec must be >= 0 and finite"),
        ({"min_retries_per_sec": math.inf}, "min_retries_per_sec must be >= 0 and finite"),
        ({"min_retries_per_sec": math.nan}, "min_retries_per_sec must be >= 0 and finite"),
        ({"percent_can_retry": -0.1}, "percent_can_retry must be in"),
        ({"percent_can_retry": 1000.5}, "percent_can_retry must be in"),
        ({"percent_can_retry": math.nan}, "percent_can_retry must be in"),
    ],
)
def test_rejects_invalid_config(kwargs: dict[str, float], message: str) -> None:
    """Finagle's bounds (ttl in [1, 60] s, rate >= 0, percent in [0, 1000]) and no NaN or inf."""
    with pytest.raises(ValueError, match=message):
        RetryBudget(**kwargs)  # type: ignore[arg-type]


def test_noop_always_allows() -> None:
    """NoopRetryBudget grants every withdrawal, keeps no accounting and reads as unlimited."""
    budget = NoopRetryBudget()
    assert all(budget.try_withdraw() for _ in range(1000))
    budget.deposit()
    assert budget.balance == sys.maxsize
    stats = budget.statistics()
    assert (stats.deposits, stats.withdrawals, stats.rejected) == (0, 0, 0)


_ops = st.lists(
    st.tuples(st.sampled_from(["deposit", "withdraw"]), st.floats(min_value=0.0, max_value=3.0)),
    max_size=200,
)


@given(
    ops=_ops,
    ttl=st.sampled_from([1.0, 2.5, 10.0]),
    min_retries_per_sec=st.sampled_from([0.0, 1.0, 10.0]),
    percent=st.sampled_from([0.0, 0.1, 0.2, 0.5, 2.0]),
)
def test_balance_is_the_window_sum_plus_reserve(
    ops: list[tuple[str, float]], ttl: float, min_retries_per_sec: float, percent: float
) -> None:
    """Model check: the balance and every answer follow from the events of the last 10 slices."""
    clock = MockClock()
    budget = RetryBudget(
        ttl=ttl, min_retries_per_sec=min_retries_per_sec, percent_can_retry=percent, clock=clock
    )
    cost = 1 if percent == 0 else int(1000 / percent)
    credit = 0 if percent == 0 else 1000
    reserve = int(min_retries_per_sec * ttl) * cost
    events: list[tuple[int, int]] = []  # (slice ordinal, tokens)
    for op, step in ops:
        clock.jump(step)
        head = math.floor(clock.now() / (ttl / 10))
        tokens = reserve + sum(t for ordinal, t in events if ordinal > head - 10)
        assert budget.balance == max(0, tokens // cost)
        if op == "deposit":
            budget.deposit()
            events.append((head, credit))
        else:
            granted = budget.try_withdraw()
            assert granted == (tokens >= cost)
            if granted:
                events.append((head, -cost))
