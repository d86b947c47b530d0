"""Classification metrics on class ids: accuracy, macro F1, confusion matrix.

Plain NumPy, for evaluation after `predict` (Keras' streaming metrics
average per batch; these see the whole evaluation set at once).
"""

import numpy as np


def _class_ids(y_true, y_pred, num_classes=None):
    """Both as int64 `[examples]`; `y_pred` may be scores with one more axis
    (argmax taken)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_pred.ndim == y_true.ndim + 1:
        y_pred = y_pred.argmax(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true of shape {y_true.shape} but y_pred of shape {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("no examples")
    ids = []
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        as_int = y.astype(np.int64).reshape(-1)
        if not np.array_equal(as_int, y.reshape(-1)):
            raise ValueError(f"{name} holds values that are not class ids")
        if as_int.min() < 0:
            raise ValueError(f"{name} holds the negative class id {as_int.min()}")
        if num_classes is not None and as_int.max() >= num_classes:
            raise ValueError(f"{name} holds the class id {as_int.max()}, num_classes={num_classes}")
        ids.append(as_int)
    return ids


def accuracy(y_true, y_pred):
    """Share of examples whose predicted class is the true one."""
    y_true, y_pred = _class_ids(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes):
    """Int64 `[num_classes, num_classes]`: entry `[t, p]` counts the examples
    of true class `t` predicted as `p` (rows true, as scikit-learn)."""
    y_true, y_pred = _class_ids(y_true, y_pred, num_classes)
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def macro_f1(y_true, y_pred, num_classes=None):
    """Unweighted mean over classes of per-class F1, as scikit-learn's
    `f1_score(average="macro")`.

    A class in `y_true` but never predicted (or predicted but never true)
    has F1 0. A class in neither does not enter the mean (scikit-learn's
    default `labels`), so a rare class missing from an evaluation set does
    not drag the score down.

    Args:
        y_true: true class ids.
        y_pred: predicted class ids, or scores with one more axis.
        num_classes: when given, ids must be below it.
    """
    y_true, y_pred = _class_ids(y_true, y_pred, num_classes)
    size = int(max(y_true.max(), y_pred.max())) + 1
    matrix = np.bincount(y_true * size + y_pred, minlength=size**2).reshape(size, size)
    true_positives = np.diag(matrix)
    # 2PR / (P + R) = 2TP / (2TP + FP + FN), which is 0, not undefined, when
    # a class is never predicted or never true.
    denominator = matrix.sum(0) + matrix.sum(1)  # (TP + FP) + (TP + FN)
    present = denominator > 0
    return float(np.mean(2 * true_positives[present] / denominator[present]))
