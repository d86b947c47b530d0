"""`DynamicMasking`: fresh masked-LM choices every time a batch is read."""

import tensorflow as tf


class DynamicMasking:
    """Re-masks batches of pretraining features (RoBERTa's dynamic masking).

    Each sequence is first restored unmasked (its `masked_lm_ids` put back at
    `masked_lm_positions`), then `masked_lm_prob` of its tokens, at least one
    and at most `max_predictions_per_seq`, are chosen at random among all but
    [CLS], [SEP] and padding: 80% become [MASK], 10% a random piece from
    `replacement_ids`, 10% stay. Token-level (no whole-word masking).

    Args:
        masking: a `pretraining_instances.MaskingOptions` (ids and rates).
        seed: optional op seed, for repeatable draws.

    Example:

    >>> dataset = pretraining_dataset("data/", 32, dynamic_masking=DynamicMasking(options))
    """

    def __init__(self, masking, seed=None):
        self.masking = masking
        self.seed = seed
        self.replacement_ids = tf.constant(masking.replacement_ids, tf.int32)

    def __call__(self, features):
        m = self.masking
        ids, mask = features["input_word_ids"], features["input_mask"]
        batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
        ids = _unmask(ids, features)
        eligible = (mask > 0) & (ids != m.cls_id) & (ids != m.sep_id)
        count = tf.reduce_sum(mask, axis=1)
        wanted = tf.cast(tf.round(tf.cast(count, tf.float32) * m.masked_lm_prob), tf.int32)
        wanted = tf.minimum(m.max_predictions_per_seq, tf.maximum(1, wanted))

        # The `wanted` eligible positions with the highest random scores.
        scores = tf.where(eligible, tf.random.uniform(tf.shape(ids), seed=self.seed), -1.0)
        top_scores, positions = tf.math.top_k(scores, k=m.max_predictions_per_seq)
        chosen = (tf.range(m.max_predictions_per_seq)[None, :] < wanted[:, None]) & (top_scores >= 0)
        positions = tf.sort(tf.where(chosen, positions, length), axis=1)  # chosen first, in order
        chosen = positions < length
        positions = tf.where(chosen, positions, 0)
        labels = tf.where(chosen, tf.gather(ids, positions, batch_dims=1), 0)

        draw = tf.random.uniform(tf.shape(positions), seed=self.seed)
        random_ids = tf.gather(
            self.replacement_ids,
            tf.random.uniform(
                tf.shape(positions), maxval=tf.shape(self.replacement_ids)[0], dtype=tf.int32,
                seed=self.seed,
            ),
        )
        replaced = tf.where(draw < 0.8, m.mask_id, tf.where(draw < 0.9, random_ids, labels))
        rows = tf.broadcast_to(tf.range(batch)[:, None], tf.shape(positions))
        indices = tf.boolean_mask(tf.stack([rows, positions], axis=-1), chosen)
        masked = tf.tensor_scatter_nd_update(ids, indices, tf.boolean_mask(replaced, chosen))
        return {
            **features,
            "input_word_ids": masked,
            "masked_lm_positions": positions,
            "masked_lm_ids": labels,
            "masked_lm_weights": tf.cast(chosen, tf.float32),
        }


def _unmask(ids, features):
    """The sequence before its static masking."""
    chosen = features["masked_lm_weights"] > 0
    positions = features["masked_lm_positions"]
    rows = tf.broadcast_to(tf.range(tf.shape(ids)[0])[:, None], tf.shape(positions))
    indices = tf.boolean_mask(tf.stack([rows, positions], axis=-1), chosen)
    return tf.tensor_scatter_nd_update(ids, indices, tf.boolean_mask(features["masked_lm_ids"], chosen))
