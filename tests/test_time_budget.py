"""`TimeBudget`: the step count estimated again after every loop, saved in
checkpoints, and read by the learning-rate schedule."""

import pytest
import tensorflow as tf

from kerasbert.training import TimeBudget, WarmupLinearDecay


def test_estimates_from_the_second_loop_on_leaving_out_the_traced_one():
    budget = TimeBudget(8.0, max_steps=10_000)
    budget.after_loop(step=10, steps=10, seconds=9.0)  # tracing: counted as spent, not timed
    assert int(budget.train_steps.numpy()) == 10_000
    budget.after_loop(step=50, steps=40, seconds=10.0)  # 0.25 s a step
    assert int(budget.train_steps.numpy()) == 50 + int((480 - 19) / 0.25)
    assert float(budget.seconds_spent.numpy()) == 19.0


@pytest.mark.parametrize("seconds, expected", [(2.0, 90 + int((60 - 13) / (12 / 80))),
                                               (20.0, 90 + int((60 - 31) / (30 / 80)))])
def test_a_host_that_speeds_up_or_slows_down_still_fills_its_minutes(seconds, expected):
    budget = TimeBudget(1.0, max_steps=100_000)
    budget.after_loop(step=10, steps=10, seconds=1.0)
    budget.after_loop(step=50, steps=40, seconds=10.0)
    assert int(budget.train_steps.numpy()) == 50 + int(49 / 0.25)
    budget.after_loop(step=90, steps=40, seconds=seconds)  # the mean over 80 steps moves
    assert int(budget.train_steps.numpy()) == expected


def test_ends_at_the_current_step_once_the_minutes_are_spent():
    budget = TimeBudget(1.0, max_steps=1000)
    budget.after_loop(step=10, steps=10, seconds=10.0)
    budget.after_loop(step=20, steps=10, seconds=5.0)
    assert int(budget.train_steps.numpy()) == 20 + 90  # 45 s left at 0.5 s a step
    budget.after_loop(step=110, steps=90, seconds=46.0)  # a second over
    assert int(budget.train_steps.numpy()) == 110


@pytest.mark.parametrize("minutes, expected", [(100.0, 300), (0.1, 20)])
def test_capped_by_max_steps_and_never_below_the_current_step(minutes, expected):
    budget = TimeBudget(minutes, max_steps=300)
    budget.after_loop(step=10, steps=10, seconds=10.0)
    budget.after_loop(step=20, steps=10, seconds=1.0)
    assert int(budget.train_steps.numpy()) == expected


def test_nonpositive_minutes_refused():
    with pytest.raises(ValueError, match="train_minutes=0"):
        TimeBudget(0, max_steps=10)


def test_checkpoint_keeps_the_time_spent_and_the_count(tmp_path):
    budget = TimeBudget(1.0, max_steps=1000)
    budget.after_loop(step=10, steps=10, seconds=5.0)
    budget.after_loop(step=20, steps=10, seconds=1.0)
    path = tf.train.Checkpoint(time_budget=budget).save(str(tmp_path / "ckpt"))

    resumed = TimeBudget(1.0, max_steps=1000)
    tf.train.Checkpoint(time_budget=resumed).restore(path).assert_consumed()
    assert int(resumed.train_steps.numpy()) == 20 + 540
    resumed.after_loop(step=30, steps=10, seconds=4.0)  # traces again: not timed
    assert int(resumed.train_steps.numpy()) == 20 + 540
    resumed.after_loop(step=40, steps=10, seconds=2.0)  # 0.2 s a step, 12 s spent
    assert int(resumed.train_steps.numpy()) == 40 + 240


def test_schedule_follows_the_estimated_step_count_in_a_traced_function():
    budget = TimeBudget(1.0, max_steps=1000)
    schedule = WarmupLinearDecay(1.0, budget.train_steps, warmup_steps=10)
    rate = tf.function(schedule)
    assert float(rate(tf.constant(110))) == pytest.approx(1 - 100 / 990)
    budget.train_steps.assign(210)
    assert float(rate(tf.constant(110))) == pytest.approx(0.5)
    assert float(rate(tf.constant(210))) == 0.0
    assert schedule.get_config()["total_steps"] == 210
