"""`TimeBudget`: as many training steps as fit in a number of minutes."""

import math

import tensorflow as tf


class TimeBudget(tf.Module):
    """Keeps `train_steps` at the step where `minutes` of training run out.

    The learning-rate schedule decays to its end at `train_steps`, so the
    count has to be known while training. After every loop it is estimated
    afresh: the current step plus the steps that fit in the time left, at
    the mean time per step of the loops so far (the first loop after a start
    traces the step function: its time counts as spent, not in the mean).
    A host that speeds up or slows down during the run still fills its
    minutes, and the correction shrinks with the time left, so the rate
    near the end hardly moves. Evaluation and checkpoints are not counted.
    `train_steps` and `seconds_spent` are variables: saved in checkpoints, a
    resumed run spends what is left of the same budget. Under a multi-worker
    strategy every worker takes the workers' mean timings, so all agree on
    the count.

    Args:
        minutes: the training time to fill.
        max_steps: the most steps to train (the count before the first
            estimate).
        strategy: the `tf.distribute` strategy training runs under (its
            scope holds the variables).

    Example:

    >>> budget = TimeBudget(8.0, max_steps=10_000)
    >>> budget.after_loop(step=10, steps=10, seconds=9.0)   # traced: not in the mean
    >>> budget.after_loop(step=50, steps=40, seconds=10.0)  # 0.25 s a step
    >>> int(budget.train_steps.numpy())  # 50 + (480 - 19) / 0.25
    1894
    """

    def __init__(self, minutes, max_steps, strategy=None):
        super().__init__(name="time_budget")
        if not minutes > 0:
            raise ValueError(f"train_minutes={minutes} must be positive")
        self.minutes = minutes
        self.max_steps = max_steps
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.train_steps = tf.Variable(max_steps, dtype=tf.int64, trainable=False)
            self.seconds_spent = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._loops = 0
        self._timed_steps = 0
        self._timed_seconds = 0.0

    def after_loop(self, step, steps, seconds):
        """Records a loop of `steps` steps that took `seconds` and ended at
        `step`, and estimates `train_steps` again (from the second loop of
        this process on)."""
        self.seconds_spent.assign_add(seconds)
        self._loops += 1
        if self._loops == 1:
            return
        self._timed_steps += steps
        self._timed_seconds += seconds
        seconds_per_step, spent = self._mean_over_workers(
            self._timed_seconds / self._timed_steps, float(self.seconds_spent.numpy())
        )
        fit = math.floor(max(self.minutes * 60 - spent, 0.0) / seconds_per_step)
        self.train_steps.assign(min(self.max_steps, step + fit))

    def _mean_over_workers(self, *values):
        strategy = self.strategy
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return values
        local = tf.constant(values, tf.float64)
        mean = strategy.reduce("MEAN", strategy.run(lambda: tf.identity(local)), axis=None)
        return tuple(float(v) for v in mean.numpy())
