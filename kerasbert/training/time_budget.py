"""`TimeBudget`: as many training steps as fit in a number of minutes."""

import math

import tensorflow as tf


class TimeBudget(tf.Module):
    """Decides, during warmup, how many steps fit in `minutes` of training.

    The learning-rate schedule decays to its end at `train_steps`, so the
    step count has to be known before the decay starts. The rate of the
    loops after the first (which traces the step function) is measured until
    `warmup_steps` have run; then `train_steps` is set to the step at which
    `minutes` of training (the first loop included, evaluation and
    checkpoints not) will have passed, at most `max_steps`. `train_steps` and
    `decided` are variables: saved in checkpoints, a resumed run keeps the
    count decided before it was interrupted. Under a multi-worker strategy
    every worker takes the workers' mean timings, so all agree on the count.

    Args:
        minutes: the training time to fill.
        max_steps: the most steps to train (the count until decided).
        warmup_steps: the schedule's warmup; the count is decided at the
            first loop that ends at or after it (and after the second loop).
        strategy: the `tf.distribute` strategy training runs under (its
            scope holds the variables).

    Example:

    >>> budget = TimeBudget(8.0, max_steps=10_000, warmup_steps=50)
    >>> budget.after_loop(step=10, steps=10, seconds=9.0)   # traced: not timed
    >>> budget.after_loop(step=50, steps=40, seconds=10.0)  # 0.25 s a step
    >>> int(budget.train_steps.numpy())  # 50 + (480 - 19) / 0.25
    1894
    """

    def __init__(self, minutes, max_steps, warmup_steps=0, strategy=None):
        super().__init__(name="time_budget")
        if not minutes > 0:
            raise ValueError(f"train_minutes={minutes} must be positive")
        self.minutes = minutes
        self.max_steps = max_steps
        self.warmup_steps = warmup_steps
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.train_steps = tf.Variable(max_steps, dtype=tf.int64, trainable=False)
            self.decided = tf.Variable(False, trainable=False)
        self._loops = 0
        self._seconds = 0.0
        self._timed_steps = 0
        self._timed_seconds = 0.0

    def after_loop(self, step, steps, seconds):
        """Records a loop of `steps` steps that took `seconds` and ended at
        `step`; decides the count once warmup is over."""
        if bool(self.decided.numpy()):
            return
        self._loops += 1
        self._seconds += seconds
        if self._loops > 1:
            self._timed_steps += steps
            self._timed_seconds += seconds
        if self._loops < 2 or step < self.warmup_steps:
            return
        seconds_per_step, spent = self._mean_over_workers(
            self._timed_seconds / self._timed_steps, self._seconds
        )
        fit = math.floor(max(self.minutes * 60 - spent, 0.0) / seconds_per_step)
        self.train_steps.assign(min(self.max_steps, step + fit))
        self.decided.assign(True)

    def _mean_over_workers(self, *values):
        strategy = self.strategy
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return values
        local = tf.constant(values, tf.float64)
        mean = strategy.reduce("MEAN", strategy.run(lambda: tf.identity(local)), axis=None)
        return tuple(float(v) for v in mean.numpy())
