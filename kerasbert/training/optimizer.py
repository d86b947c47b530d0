"""BERT's optimizer: AdamW or LAMB, warmup + linear decay, no weight decay
on LayerNorm and biases, optional loss scaling for float16."""

import keras

from kerasbert.training.fused_adamw import FusedAdamW
from kerasbert.training.warmup_linear_decay import WarmupLinearDecay

OPTIMIZERS = ("adamw", "lamb")
# Keras matches these against variable names: LayerNorm scale and offset, biases.
NO_WEIGHT_DECAY = ["gamma", "beta", "bias"]


def create_optimizer(
    learning_rate,
    train_steps,
    warmup_steps=0,
    optimizer="adamw",
    weight_decay=0.01,
    epsilon=1e-6,
    global_clipnorm=1.0,
    loss_scale=False,
    end_learning_rate=0.0,
):
    """Returns a Keras optimizer with BERT's settings.

    `global_clipnorm` clips the gradient by its global norm in `fit`. The
    pretraining loop clips the all-reduced gradient itself (Keras would clip
    each replica's part separately) and passes `global_clipnorm=None`.
    The rate warms up linearly to `learning_rate`, then decays linearly to
    `end_learning_rate` at `train_steps`. AdamW is `FusedAdamW` (Keras'
    AdamW with TensorFlow's one-kernel update). `loss_scale=True` wraps the optimizer in a `LossScaleOptimizer`
    (dynamic loss scaling, for `mixed_float16`).
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not one of {OPTIMIZERS}")
    schedule = WarmupLinearDecay(learning_rate, train_steps, warmup_steps, end=end_learning_rate)
    cls = FusedAdamW if optimizer == "adamw" else keras.optimizers.Lamb
    result = cls(
        learning_rate=schedule,
        weight_decay=weight_decay,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=epsilon,
        global_clipnorm=global_clipnorm,
    )
    result.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    if loss_scale:
        result = keras.optimizers.LossScaleOptimizer(result)
    return result
