"""kerasbert's benchmarks against keras-hub and Hugging Face.

`python -m bench` (or `make bench`) runs them all and writes
`bench/results.json` and `bench/RESULTS.md`; `python -m bench NAME ...`
runs some (`--quick` for a smoke run at tiny sizes, `--repeats`,
`--runs` for the ratios' medians over several runs, `--output_dir`). One
module per benchmark, each with `run(options)` -> result dict and
`markdown(result)` -> its table:

- `matmul_peak`: best fp32 matmul GFLOP/s, the yardstick;
- `encoder_inference`: BERT-base forward pass, batch 1, 8, 32;
- `pretraining_step`: `mini` MLM (+NSP) training step, batch 32;
- `tokenization`: the BBC corpus through WordPiece;
- `data_creation`: pretraining instances with 1 and 2 processes;
- `serving_latency`: raw text to the exported bundle, p50/p99;
- `memory`: peak RSS of the first two, one process per peer.

Each benchmark runs in a fresh process of its own (`bench.child`); within
it the peers run interleaved, warm-up excluded (`bench.timing`).
`python -m bench.profile` is not a benchmark: it traces the TensorFlow
peers of one and tables their op time by op type.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# torch's OpenMP threads spin at every barrier by default: while other work
# held a core, BERT-base batch 1 took 0.7-1.6 s that way instead of 0.23 s
# with passive waiting. On a quiet machine passive waiting should cost
# little next to ops of BERT's size (not measured: no quiet machine here).
# libgomp reads it when torch loads, hence here, before any torch import;
# TensorFlow does not use OpenMP. Set it in the environment to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

BENCHMARKS = (
    "matmul_peak",
    "encoder_inference",
    "pretraining_step",
    "tokenization",
    "data_creation",
    "serving_latency",
    "memory",
)
