"""`TimeBudget`: the step count decided from the warmup's timings, saved in
checkpoints, and read by the learning-rate schedule."""

import pytest
import tensorflow as tf

from kerasbert.training import TimeBudget, WarmupLinearDecay


def test_decides_after_warmup_from_the_untraced_loops():
    budget = TimeBudget(8.0, max_steps=10_000, warmup_steps=50)
    budget.after_loop(step=10, steps=10, seconds=9.0)  # tracing: counted as spent, not timed
    budget.after_loop(step=20, steps=10, seconds=2.0)
    assert not budget.decided.numpy()  # warmup not over
    assert int(budget.train_steps.numpy()) == 10_000
    budget.after_loop(step=50, steps=30, seconds=8.0)  # 40 steps in 10 s
    assert budget.decided.numpy()
    assert int(budget.train_steps.numpy()) == 50 + int((480 - 19) / 0.25)
    budget.after_loop(step=60, steps=10, seconds=100.0)  # decided once
    assert int(budget.train_steps.numpy()) == 1894


def test_second_loop_is_needed_even_without_warmup():
    budget = TimeBudget(1.0, max_steps=1000)
    budget.after_loop(step=10, steps=10, seconds=5.0)
    assert not budget.decided.numpy()
    budget.after_loop(step=20, steps=10, seconds=1.0)
    assert int(budget.train_steps.numpy()) == 20 + 540


@pytest.mark.parametrize("minutes, expected", [(100.0, 300), (0.1, 20)])
def test_capped_by_max_steps_and_never_below_the_current_step(minutes, expected):
    budget = TimeBudget(minutes, max_steps=300, warmup_steps=0)
    budget.after_loop(step=10, steps=10, seconds=10.0)
    budget.after_loop(step=20, steps=10, seconds=1.0)
    assert int(budget.train_steps.numpy()) == expected


def test_nonpositive_minutes_refused():
    with pytest.raises(ValueError, match="train_minutes=0"):
        TimeBudget(0, max_steps=10)


def test_checkpoint_keeps_the_decision(tmp_path):
    budget = TimeBudget(1.0, max_steps=1000)
    budget.after_loop(step=10, steps=10, seconds=1.0)
    budget.after_loop(step=20, steps=10, seconds=1.0)
    path = tf.train.Checkpoint(time_budget=budget).save(str(tmp_path / "ckpt"))

    resumed = TimeBudget(1.0, max_steps=1000)
    tf.train.Checkpoint(time_budget=resumed).restore(path).assert_consumed()
    assert resumed.decided.numpy()
    assert int(resumed.train_steps.numpy()) == 20 + 580
    resumed.after_loop(step=30, steps=10, seconds=30.0)  # a slower restart changes nothing
    assert int(resumed.train_steps.numpy()) == 600


def test_schedule_follows_the_decided_step_count_in_a_traced_function():
    budget = TimeBudget(1.0, max_steps=1000, warmup_steps=10)
    schedule = WarmupLinearDecay(1.0, budget.train_steps, warmup_steps=10)
    rate = tf.function(schedule)
    assert float(rate(tf.constant(110))) == pytest.approx(1 - 100 / 990)
    budget.train_steps.assign(210)
    assert float(rate(tf.constant(110))) == pytest.approx(0.5)
    assert float(rate(tf.constant(210))) == 0.0
    assert schedule.get_config()["total_steps"] == 210
