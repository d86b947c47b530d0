"""Pretraining step: `mini` preset (L4/H256/A4), sequence length 128, batch
32, 20 masked positions per sequence, AdamW, float32, dropout on.

Peers, all on the same random batch, each step = forward, backward,
gradient clipping to global norm 1.0 and one AdamW update (learning rate
1e-4, weight decay 0.01):

- kerasbert `BertPretrainer` MLM-only (`nsp=False`) and MLM+NSP, with the
  step of `kerasbert.training.pretraining` written out: loss and gradients
  in a `tf.function` (with and without `jit_compile`, as `--jit_compile`),
  gradients made dense, clipped, `optimizer.apply` with the library's
  `create_optimizer`;
- `keras_hub.models.BertMaskedLM` (backbone + `MaskedLMHead`, which gathers
  the masked positions), through `train_on_batch` and through a
  `tf.function` with `GradientTape` (both are shown; ratios use the faster);
- Hugging Face `BertForMaskedLM` and `BertForPreTraining` in torch (2
  threads) with `torch.optim.AdamW`, the masked positions gathered before
  the head; and `BertForMaskedLM` called the stock way, `labels=` over all
  128 positions (-100 where not masked).

Throughput is sequences per second.
"""

import functools
import warnings

import numpy as np

from bench import sizes
from bench.timing import configure_torch, measure, rate_row, ratio

LEARNING_RATE = 1e-4
WEIGHT_DECAY = 0.01
CLIP_NORM = 1.0

KERASBERT_MLM = "kerasbert BertPretrainer MLM"
KERASBERT_MLM_XLA = "kerasbert BertPretrainer MLM (XLA)"
KERASBERT_NSP = "kerasbert BertPretrainer MLM+NSP"
KERASBERT_NSP_XLA = "kerasbert BertPretrainer MLM+NSP (XLA)"
KERAS_HUB = "keras-hub BertMaskedLM (train_on_batch)"
KERAS_HUB_TAPE = "keras-hub BertMaskedLM (tf.function)"
HF_MLM = "Hugging Face BertForMaskedLM (gathered)"
HF_NSP = "Hugging Face BertForPreTraining (gathered)"
HF_MLM_STOCK = "Hugging Face BertForMaskedLM (labels=)"
PACKAGES = {
    KERASBERT_MLM: "kerasbert",
    KERASBERT_MLM_XLA: "kerasbert",
    KERASBERT_NSP: "kerasbert",
    KERASBERT_NSP_XLA: "kerasbert",
    KERAS_HUB: "keras-hub",
    KERAS_HUB_TAPE: "keras-hub",
    HF_MLM: "transformers",
    HF_NSP: "transformers",
    HF_MLM_STOCK: "transformers",
}
OBJECTIVES = {name: "MLM+NSP" if "NSP" in name or "PreTraining" in name else "MLM" for name in PACKAGES}
# Left out of `--quick`: each costs 4-8 s of tracing or XLA compilation and
# runs the same harness code as a peer that stays.
QUICK_SKIPPED = (KERASBERT_MLM_XLA, KERASBERT_NSP_XLA, KERAS_HUB)


def batch_sizes(quick):
    """(sizes, batch, seq_length, predictions): `mini`, 32, 128, 20 (with
    `--quick`: `tiny`, 4, 32, 5)."""
    if quick:
        return sizes.preset("tiny"), 4, 32, 5
    return sizes.preset("mini"), 32, 128, 20


def random_batch(config, batch, seq_length, predictions, seed=0):
    """A pretraining batch in kerasbert's feature names (numpy)."""
    rng = np.random.default_rng(seed)
    positions = np.stack(
        [np.sort(rng.choice(np.arange(1, seq_length - 1), predictions, replace=False)) for _ in range(batch)]
    )
    types = np.zeros((batch, seq_length), "int32")
    types[:, seq_length // 2 :] = 1
    return {
        "input_word_ids": rng.integers(1000, config.vocab_size, (batch, seq_length)).astype("int32"),
        "input_mask": np.ones((batch, seq_length), "int32"),
        "input_type_ids": types,
        "masked_lm_positions": positions.astype("int32"),
        "masked_lm_ids": rng.integers(1000, config.vocab_size, (batch, predictions)).astype("int32"),
        "masked_lm_weights": np.ones((batch, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (batch, 1)).astype("int32"),
    }


def kerasbert_step(config, data, nsp, jit_compile):
    """The factory of one kerasbert pretraining step: `make_train_loop`, the
    loop `train/pretrain.py` runs, one step per call on a fixed batch."""

    def build():
        import tensorflow as tf

        from kerasbert import BertEncoder, BertPretrainer
        from kerasbert.training import create_optimizer, make_train_loop

        pretrainer = BertPretrainer(BertEncoder(sizes.kerasbert_config(config)), nsp=nsp)
        optimizer = create_optimizer(
            LEARNING_RATE, 10**6, weight_decay=WEIGHT_DECAY, global_clipnorm=None
        )
        optimizer.build(pretrainer.trainable_variables)
        # No autotuning of this one-element pipeline: its model thread made
        # deleting the iterator wait 10-30 s at the end of the benchmark.
        options = tf.data.Options()
        options.autotune.enabled = False
        batches = iter(tf.data.Dataset.from_tensors(dict(data)).repeat().with_options(options))
        # The library's own loop (gradient in one tf.function, clip, AdamW), one step per call.
        loop = make_train_loop(pretrainer, optimizer, jit_compile=jit_compile)
        one = tf.constant(1)
        return lambda: loop(batches, one)

    return build


@functools.lru_cache(maxsize=None)
def keras_hub_masked_lm(config):
    import keras_hub

    return keras_hub.models.BertMaskedLM(sizes.keras_hub_backbone(config), preprocessor=None)


def keras_hub_step(config, data, mode):
    def build():
        import keras
        import tensorflow as tf

        # The backbone's pooler feeds nothing here; Keras says so on every trace.
        warnings.filterwarnings("ignore", message="Gradients do not exist for variables")
        model = keras_hub_masked_lm(config)
        optimizer = keras.optimizers.AdamW(
            LEARNING_RATE, weight_decay=WEIGHT_DECAY, epsilon=1e-6, global_clipnorm=CLIP_NORM
        )
        x = {
            "token_ids": tf.constant(data["input_word_ids"]),
            "padding_mask": tf.constant(data["input_mask"]),
            "segment_ids": tf.constant(data["input_type_ids"]),
            "mask_positions": tf.constant(data["masked_lm_positions"]),
        }
        y = tf.constant(data["masked_lm_ids"])
        weights = tf.constant(data["masked_lm_weights"])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if mode == "train_on_batch":
            model.compile(optimizer=optimizer, loss=loss, weighted_metrics=[])
            return lambda: model.train_on_batch(x, y, sample_weight=weights)
        variables = model.trainable_variables
        optimizer.build(variables)

        @tf.function
        def step(x, y, weights):
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True), sample_weight=weights)
            optimizer.apply(tape.gradient(value, variables), variables)
            return value

        return lambda: step(x, y, weights)

    return build


def huggingface_step(config, data, model_class, gathered):
    def build():
        torch = configure_torch()
        import transformers

        model = getattr(transformers, model_class)(sizes.huggingface_config(config)).train()
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, eps=1e-6
        )
        batch = {k: torch.from_numpy(v) for k, v in data.items()}
        inputs = {
            "input_ids": batch["input_word_ids"].long(),
            "attention_mask": batch["input_mask"].long(),
            "token_type_ids": batch["input_type_ids"].long(),
        }
        positions = batch["masked_lm_positions"].long()
        mlm_ids = batch["masked_lm_ids"].long()
        weights = batch["masked_lm_weights"]
        nsp_labels = batch["next_sentence_labels"].long().reshape(-1)
        labels = torch.full_like(inputs["input_ids"], -100)
        labels.scatter_(1, positions, mlm_ids)
        cross_entropy = torch.nn.functional.cross_entropy

        def loss_fn():
            if not gathered:
                return model(**inputs, labels=labels).loss
            outputs = model.bert(**inputs)
            index = positions[:, :, None].expand(-1, -1, outputs.last_hidden_state.shape[-1])
            sequence = torch.gather(outputs.last_hidden_state, 1, index)
            if model_class == "BertForPreTraining":
                logits, nsp_logits = model.cls(sequence, outputs.pooler_output)
            else:
                logits, nsp_logits = model.cls(sequence), None
            per_position = cross_entropy(logits.flatten(0, 1), mlm_ids.flatten(), reduction="none")
            loss = (per_position * weights.flatten()).sum() / (weights.sum() + 1e-5)
            if nsp_logits is not None:
                loss = loss + cross_entropy(nsp_logits, nsp_labels)
            return loss

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            return loss

        return step

    return build


def factories(quick):
    config, batch, seq_length, predictions = batch_sizes(quick)
    data = random_batch(config, batch, seq_length, predictions)
    return {
        KERASBERT_MLM: kerasbert_step(config, data, nsp=False, jit_compile=False),
        KERASBERT_MLM_XLA: kerasbert_step(config, data, nsp=False, jit_compile=True),
        KERASBERT_NSP: kerasbert_step(config, data, nsp=True, jit_compile=False),
        KERASBERT_NSP_XLA: kerasbert_step(config, data, nsp=True, jit_compile=True),
        KERAS_HUB: keras_hub_step(config, data, "train_on_batch"),
        KERAS_HUB_TAPE: keras_hub_step(config, data, "tf.function"),
        HF_MLM: huggingface_step(config, data, "BertForMaskedLM", gathered=True),
        HF_NSP: huggingface_step(config, data, "BertForPreTraining", gathered=True),
        HF_MLM_STOCK: huggingface_step(config, data, "BertForMaskedLM", gathered=False),
    }


def memory_factories(quick):
    """The peers measured by `bench.memory` (MLM only, one per package)."""
    everything = factories(quick)
    return {name: everything[name] for name in (KERASBERT_MLM, KERAS_HUB, HF_MLM)}


def run(options):
    config, batch, seq_length, predictions = batch_sizes(options.quick)
    skipped = QUICK_SKIPPED if options.quick else ()
    peers = {name: factory for name, factory in factories(options.quick).items() if name not in skipped}
    timings = measure(peers, options.repeats, settle=1, label="pretraining_step")
    keras_hub_masked_lm.cache_clear()
    rows = [
        rate_row(name, timing, batch, package=PACKAGES[name], objective=OBJECTIVES[name])
        for name, timing in timings.items()
    ]
    return {
        "title": "Pretraining step",
        "unit": "seq/s",
        "config": config.to_dict(),
        "batch": batch,
        "seq_length": seq_length,
        "predictions": predictions,
        "rows": rows,
        "ratios": _ratios(rows),
    }


def _ratios(rows):
    by_name = {row["name"]: row for row in rows}

    def best(names):  # of those that ran (`--quick` runs fewer)
        return max((by_name[n] for n in names if n in by_name), key=lambda r: r["median"])

    mlm = best([KERASBERT_MLM, KERASBERT_MLM_XLA])
    nsp = best([KERASBERT_NSP, KERASBERT_NSP_XLA])
    keras_hub = best([KERAS_HUB, KERAS_HUB_TAPE])
    return [
        ratio("pretraining step, MLM", mlm, keras_hub, target=1.2),
        ratio("pretraining step, MLM", mlm, by_name[HF_MLM], target=1.2),
        ratio("pretraining step, MLM+NSP", nsp, by_name[HF_NSP], target=1.2),
        ratio("pretraining step, MLM (HF stock `labels=`)", mlm, by_name[HF_MLM_STOCK]),
    ]


def markdown(result):
    config = result["config"]
    rows = result["rows"]
    best = {
        (package, objective): max(
            r["median"] for r in rows if r["package"] == package and r["objective"] == objective
        )
        for package, objective in (("keras-hub", "MLM"), ("transformers", "MLM"), ("transformers", "MLM+NSP"))
    }
    lines = [
        f"L{config['num_hidden_layers']}/H{config['hidden_size']}/A{config['num_attention_heads']}, "
        f"batch {result['batch']}, sequence length {result['seq_length']}, "
        f"{result['predictions']} predictions per sequence, AdamW, float32. "
        "Ratio columns: this row's median over the peer's best median for the same "
        "objective (keras-hub has MLM only; Hugging Face: gathered).",
        "",
        "| implementation | objective | seq/s median | min | max | vs keras-hub | vs Hugging Face |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        objective = row["objective"]
        versus_keras_hub = (
            f"{row['median'] / best[('keras-hub', 'MLM')]:.2f}x" if objective == "MLM" else ""
        )
        lines.append(
            f"| {row['name']} | {objective} | {row['median']:.1f} | {row['min']:.1f} | "
            f"{row['max']:.1f} | {versus_keras_hub} | "
            f"{row['median'] / best[('transformers', objective)]:.2f}x |"
        )
    return "\n".join(lines)
