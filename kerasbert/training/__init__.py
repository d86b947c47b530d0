"""Training: distribution strategies, BERT's optimizer, the pretraining loop."""

from kerasbert.training.fused_adamw import FusedAdamW
from kerasbert.training.optimizer import create_optimizer
from kerasbert.training.precision import auto_mixed_precision, cpu_has_bfloat16_dot_products
from kerasbert.training.pretraining import (
    CheckpointWriteError,
    NonFiniteLossError,
    PreemptedError,
    PretrainingOptions,
    majority_baselines,
    make_train_loop,
    pretrain,
)
from kerasbert.training.strategy import get_strategy, split_cpu
from kerasbert.training.time_budget import TimeBudget
from kerasbert.training.warmup_linear_decay import WarmupLinearDecay

__all__ = [
    "CheckpointWriteError",
    "FusedAdamW",
    "NonFiniteLossError",
    "PreemptedError",
    "PretrainingOptions",
    "TimeBudget",
    "WarmupLinearDecay",
    "auto_mixed_precision",
    "cpu_has_bfloat16_dot_products",
    "create_optimizer",
    "get_strategy",
    "majority_baselines",
    "make_train_loop",
    "pretrain",
    "split_cpu",
]
