"""Pretrains BERT (MLM + NSP, MLM + SOP, or MLM) under any tf.distribute
strategy; resumes from the newest checkpoint in --model_dir.

    python train/pretrain.py --preset=mini --vocab_file=vocab.txt \
        --train_data=data/pretrain --model_dir=runs/mini --train_steps=1000
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: less start-up noise

import json

from absl import app, flags

from kerasbert import BertConfig
from kerasbert.io_utils import exit_on_user_error
from kerasbert.training import PretrainingOptions, get_strategy, pretrain
from kerasbert.training.report import format_baselines

flags.DEFINE_string("preset", None, "BertConfig preset (tiny, mini, small, medium, base, large).")
flags.DEFINE_string("bert_config_file", None, "A bert_config.json (instead of --preset).")
flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the one in --model_dir).")
flags.DEFINE_string("train_data", None, "Directory or globs of pretraining TFRecords.")
flags.DEFINE_string("eval_data", None, "Held-out pretraining TFRecords.")
flags.DEFINE_string("model_dir", None, "Checkpoints, config.json, vocab.txt, TensorBoard logs.")
flags.DEFINE_integer("train_steps", 1000, "Total optimizer steps (with --train_minutes: the most).")
flags.DEFINE_float(
    "train_minutes",
    None,
    "Train for as many steps as fit in this many minutes (estimated again after every loop; "
    "evaluation and checkpoints not counted), at most --train_steps.",
)
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
flags.DEFINE_integer("warmup_steps", 100, "Linear warmup steps.")
flags.DEFINE_float("end_learning_rate", 0.0, "Rate reached at --train_steps by linear decay.")
flags.DEFINE_integer("max_seq_length", 128, "Must match the data.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Must match the data.")
flags.DEFINE_enum("objective", "mlm_nsp", ["mlm_nsp", "mlm_sop", "mlm"], "Pretraining heads.")
flags.DEFINE_bool("dynamic_masking", False, "Draw masks afresh each time a sequence is read.")
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "Optimizer.")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm, biases).")
flags.DEFINE_enum("distribution_strategy", "one_device",
                  ["one_device", "mirrored", "multi_worker_mirrored", "tpu"], "tf.distribute strategy.")
flags.DEFINE_string("tpu", None, "TPU name or address for --distribution_strategy=tpu.")
flags.DEFINE_integer("num_cpu_devices", None, "Split the CPU into this many logical devices.")
flags.DEFINE_enum(
    "mixed_precision", None, ["mixed_bfloat16", "mixed_float16", "auto"],
    "Mixed precision; auto: bfloat16 on TPUs, recent GPUs and CPUs with bfloat16 dot products.",
)
flags.DEFINE_bool("jit_compile", False, "Compile forward and backward with XLA.")
flags.DEFINE_integer("steps_per_loop", 10, "Steps per tf.function call (and per log line).")
flags.DEFINE_integer("checkpoint_steps", 500, "Save a checkpoint every this many steps.")
flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept.")
flags.DEFINE_integer("eval_steps", 100, "Held-out batches per evaluation.")
flags.DEFINE_string(
    "init_checkpoint",
    None,
    "Start from these weights: a kerasbert model dir, Google TF1 checkpoint, Hugging Face "
    "directory or keras-hub preset (their config and vocab.txt unless given).",
)
flags.DEFINE_integer("seed", 12345, "Random seed.")
flags.DEFINE_bool(
    "skip_corrupt_records",
    False,
    "Read the shards through first and use each up to its first truncated, corrupted or "
    "mismatched record (reported as skipped_shards); without it such a shard stops the run.",
)
for required in ("train_data", "model_dir"):
    flags.mark_flag_as_required(required)
flags.mark_flags_as_mutual_exclusive(["preset", "bert_config_file"])


def main(argv):
    del argv
    f = flags.FLAGS
    with exit_on_user_error("pretrain"):
        strategy = get_strategy(f.distribution_strategy, f.tpu, f.num_cpu_devices)
        config = None
        if f.preset:
            config = BertConfig.preset(f.preset)
        elif f.bert_config_file:
            config = BertConfig.from_json_file(f.bert_config_file)
        options = PretrainingOptions(
            model_dir=f.model_dir,
            train_data=f.train_data,
            config=config,
            vocab_file=f.vocab_file,
            eval_data=f.eval_data,
            batch_size=f.batch_size,
            train_steps=f.train_steps,
            train_minutes=f.train_minutes,
            learning_rate=f.learning_rate,
            warmup_steps=f.warmup_steps,
            end_learning_rate=f.end_learning_rate,
            max_seq_length=f.max_seq_length,
            max_predictions_per_seq=f.max_predictions_per_seq,
            objective=f.objective,
            dynamic_masking=f.dynamic_masking,
            optimizer=f.optimizer,
            weight_decay=f.weight_decay,
            mixed_precision=f.mixed_precision,
            jit_compile=f.jit_compile,
            steps_per_loop=f.steps_per_loop,
            checkpoint_steps=f.checkpoint_steps,
            keep_checkpoints=f.keep_checkpoints,
            eval_steps=f.eval_steps,
            init_checkpoint=f.init_checkpoint,
            seed=f.seed,
            skip_corrupt_records=f.skip_corrupt_records,
        )
        result = pretrain(options, strategy)
    print(json.dumps({k: v for k, v in result.items() if k != "baselines"}, indent=2))
    if "baselines" in result:
        print(format_baselines(result["baselines"]))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
