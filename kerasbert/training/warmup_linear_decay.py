"""`WarmupLinearDecay`: BERT's learning-rate schedule."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasbert")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `peak` over `warmup_steps`, then linear decay
    to `end` at `total_steps` (constant after).

    Args:
        peak: the learning rate at the end of warmup.
        total_steps: the step at which the rate reaches `end`: an int, or an
            integer variable when it is decided while training (`TimeBudget`).
        warmup_steps: steps of linear warmup.
        end: the final learning rate.

    Example:

    >>> schedule = WarmupLinearDecay(1e-4, total_steps=1000, warmup_steps=100)
    >>> float(schedule(50)), float(schedule(100)), float(schedule(1000))
    (5e-05, 0.0001, 0.0)
    """

    def __init__(self, peak, total_steps, warmup_steps=0, end=0.0):
        if total_steps <= 0 or warmup_steps < 0 or warmup_steps > total_steps:
            raise ValueError(
                f"WarmupLinearDecay: need 0 <= warmup_steps={warmup_steps} <= "
                f"total_steps={total_steps}, total_steps > 0"
            )
        self.peak = peak
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.end = end

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak * step / max(self.warmup_steps, 1)
        total = ops.cast(ops.convert_to_tensor(self.total_steps), "float32")
        progress = (step - self.warmup_steps) / ops.maximum(total - self.warmup_steps, 1.0)
        decay = self.peak + (self.end - self.peak) * ops.minimum(progress, 1.0)
        return ops.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": int(self.total_steps),
            "warmup_steps": self.warmup_steps,
            "end": self.end,
        }
