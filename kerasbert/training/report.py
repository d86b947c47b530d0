"""Reports of a pretraining run: a text table and a PNG plot."""

import io
import json
import logging

import numpy as np
import tensorflow as tf


def format_baselines(results):
    """A table of held-out accuracy: the pretrained model against the
    untrained one and the most-frequent-label baseline."""
    rows = [
        ("pretrained (step %d)" % results["step"], results["pretrained"]),
        ("untrained", results.get("untrained")),
        ("most frequent label", results["most_frequent"]),
    ]
    lines = [f"{'held-out':<24} {'MLM accuracy':>13} {'NSP accuracy':>13}"]
    for name, metrics in rows:
        if metrics:
            nsp = metrics.get("nsp_accuracy")
            nsp = f"{nsp:13.3f}" if nsp is not None else f"{'-':>13}"
            lines.append(f"{name:<24} {metrics['mlm_accuracy']:13.3f} {nsp}")
    return "\n".join(lines)


def plot_history(history_file, png_file):
    """Loss and accuracies against steps, train and eval, from the
    `history.jsonl` that `pretrain` writes. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logging.warning("matplotlib is not installed: no plot %s", png_file)
        return None
    with tf.io.gfile.GFile(history_file) as f:
        records = [json.loads(line) for line in f if line.strip()]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for split, style in (("train", "-"), ("eval", "o--")):
        rows = [r for r in records if r["split"] == split]
        if not rows:
            continue
        steps = [r["step"] for r in rows]
        loss_axis.plot(steps, [r["loss"] for r in rows], style, label=f"{split} loss")
        for metric in ("mlm_accuracy", "nsp_accuracy"):
            if metric in rows[0]:
                accuracy_axis.plot(steps, [r[metric] for r in rows], style, label=f"{split} {metric}")
    for axis, title in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.set_xlabel("step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    _save(figure, png_file)
    plt.close(figure)
    return png_file


def plot_confusion_matrix(matrix, label_names, png_file, title="confusion matrix"):
    """Counts of (true label, predicted label) as a heat map with the
    numbers written in. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logging.warning("matplotlib is not installed: no plot %s", png_file)
        return None
    size = max(4, 0.6 * len(label_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    ticks = range(len(label_names))
    axis.set_xticks(ticks, label_names, rotation=45, ha="right")
    axis.set_yticks(ticks, label_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    for (row, column), count in np.ndenumerate(np.asarray(matrix)):
        axis.text(column, row, str(count), ha="center", va="center")
    figure.tight_layout()
    _save(figure, png_file)
    plt.close(figure)
    return png_file


def format_finetuning_table(runs):
    """A table of held-out metrics, one row per run (`{name: results}`)."""
    metrics = [m for m in ("accuracy", "macro_f1", "f1", "exact_match") if any(m in r for r in runs.values())]
    lines = [f"{'held-out':<34}" + "".join(f"{m:>12}" for m in metrics) + f"{'train s':>10}"]
    for name, results in runs.items():
        cells = "".join(f"{results[m]:12.3f}" if m in results else f"{'-':>12}" for m in metrics)
        lines.append(f"{name:<34}{cells}{results.get('train_seconds', 0):10.0f}")
    return "\n".join(lines)


def _save(figure, png_file):
    """As a PNG, written through tf.io.gfile: `png_file` may be on gs://."""
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    with tf.io.gfile.GFile(png_file, "wb") as f:
        f.write(image.getvalue())
