"""Importing kerasbert turns XLA:CPU's YNNPACK fusions off (see
`kerasbert/__init__.py`): with them the MLM loss crashed 3 of 88 fresh
pretraining processes."""

import os
import subprocess
import sys

import tensorflow as tf

from kerasbert import YNN_FUSION_FLAG
from kerasbert.models.bert_pretrainer import _cross_entropy_forward


def test_the_mlm_loss_compiles_without_ynnpack_fusions():
    # At these sizes TensorFlow 2.21 fuses the loss's max and sum over the
    # vocabulary into two YNNPACK fusions unless told not to.
    logits, labels = tf.random.normal([16, 10, 2000]), tf.zeros([16, 10], tf.int32)
    hlo = _cross_entropy_forward.experimental_get_compiler_ir(logits, labels)(stage="optimized_hlo")
    assert "fusion" in hlo and "__ynn_fusion" not in hlo


def xla_flags_after_import(xla_flags):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    program = "import os, kerasbert; print(os.environ['XLA_FLAGS'])"
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_the_flag_is_added_to_the_users_flags_and_a_ynn_setting_of_theirs_wins():
    assert xla_flags_after_import(None) == f"{YNN_FUSION_FLAG}="
    assert xla_flags_after_import("--xla_cpu_enable_fast_math=false") == (
        f"--xla_cpu_enable_fast_math=false {YNN_FUSION_FLAG}="
    )
    own = f"--xla_cpu_enable_fast_math=false {YNN_FUSION_FLAG}=dot"
    assert xla_flags_after_import(own) == own
