"""kerasbert: BERT for TensorFlow and Keras 3, from raw text to a served model."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# TensorFlow 2.21's XLA:CPU hands reductions and matrix products to YNNPACK
# fusions, and one of them now and then crashes the process: a segmentation
# fault in `ynn::sum_fp32_avx512f` while the MLM loss (an XLA function) sums
# over the vocabulary, in 3 of 88 fresh processes running the pretraining
# loop here (0 of 100 with them off). XLA reads XLA_FLAGS at its first
# compilation, so this must run before any; a YNN setting of the user's wins.
YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
if YNN_FUSION_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {YNN_FUSION_FLAG}=".strip()

from kerasbert.config import BertConfig  # noqa: E402
from kerasbert.models import BertEncoder, BertPretrainer  # noqa: E402

__version__ = "0.1.0"
__all__ = ["BertConfig", "BertEncoder", "BertPretrainer"]
