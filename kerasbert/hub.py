"""`KerasLayer`: a TF Hub style reusable SavedModel as a Keras 3 layer.

`tensorflow_hub.KerasLayer` is a `tf_keras` layer and does not work inside
Keras 3 models; `keras.layers.TFSMLayer` cannot take a dict into a signature
and its weights break optimizer slot names. This layer loads the SavedModel
with `tf.saved_model.load` and exposes the loaded `tf.Variable`s themselves as
its Keras weights, so Keras optimizers, `fit`, `save_weights` and
`tf.distribute` strategies act on the very variables the loaded functions
read. See https://www.tensorflow.org/hub/reusable_saved_models.
"""

import inspect
import os
import re

import keras
import tensorflow as tf


class _ExistingVariable(keras.Variable):
    """A `keras.Variable` backed by an existing `tf.Variable`, not a copy.

    Keras builds the backing `tf.Variable` in `_initialize`; adopting the
    loaded one there (the initializer is never called) keeps a single storage,
    so an assignment through either object is seen by both.
    """

    def __init__(self, variable, trainable, name):
        self._existing = variable
        super().__init__(
            # A callable, so that Keras does not read the value to a tensor.
            initializer=lambda shape, dtype: variable,
            shape=variable.shape,
            dtype=variable.dtype.name,
            trainable=trainable,
            # The module decides its own compute dtype.
            autocast=False,
            name=name,
        )

    def _initialize(self, value):
        self._value = self._existing


def _keras_name(variable):
    # Keras names may not hold "/", and a ":0" leaks into the optimizer's
    # slot variable names, which TensorFlow then rejects.
    name = variable.name.split(":")[0]
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name) or "variable"


@keras.saving.register_keras_serializable(package="kerasbert")
class KerasLayer(keras.layers.Layer):
    """A TF Hub style reusable SavedModel wrapped as a Keras 3 layer.

    The SavedModel root must follow the reusable SavedModel API: a
    `__call__(inputs, training=False)` function (or the requested
    `signatures[signature]`), `variables`, `trainable_variables` and
    `regularization_losses`. Its variables become this layer's weights
    (the same objects, never copies): the ones listed in
    `trainable_variables` are trainable when the layer is, all others are
    non-trainable. Create the layer under `strategy.scope()` to get
    distributed variables.

    Following TF Hub, `training=True` reaches the module only when the layer
    is trainable, and signatures always run in inference mode. The module's
    `regularization_losses` are added to `layer.losses` when trainable.

    Args:
        handle: path of a SavedModel directory (`str` or `os.PathLike`).
        trainable: whether to fine-tune the module's trainable variables.
        signature: name of a signature in `signatures` to call with keyword
            inputs, instead of `__call__`. Inference only.
        arguments: dict of extra keyword arguments for every call.
        output_key: if set, return only this entry of a dict output.

    Example:

    ```python
    encoder = KerasLayer("path/to/bert_savedmodel", trainable=True)
    inputs = {
        name: keras.Input(shape=(None,), dtype="int32", name=name)
        for name in ("input_word_ids", "input_mask", "input_type_ids")
    }
    pooled = encoder(inputs)["pooled_output"]
    model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
    model.compile(keras.optimizers.AdamW(2e-5), "sparse_categorical_crossentropy")
    ```
    """

    def __init__(
        self,
        handle,
        trainable=False,
        signature=None,
        arguments=None,
        output_key=None,
        **kwargs,
    ):
        super().__init__(trainable=trainable, **kwargs)
        self.handle = os.fspath(handle)
        self.signature = signature
        self.arguments = dict(arguments or {})
        self.output_key = output_key

        self._module = _load(self.handle)
        if signature is None:
            if not callable(self._module):
                raise ValueError(
                    f"The SavedModel at '{self.handle}' has no `__call__` "
                    "function; pass `signature=` to call one of its "
                    f"signatures {sorted(self._module.signatures)}."
                )
            self._func = self._module.__call__
            self._accepts_training = (
                "training" in inspect.signature(self._func).parameters
            )
        else:
            if signature not in self._module.signatures:
                raise ValueError(
                    f"The SavedModel at '{self.handle}' has no signature "
                    f"'{signature}'. Available signatures: "
                    f"{sorted(self._module.signatures)}."
                )
            self._func = self._module.signatures[signature]
            self._accepts_training = False
        self._regularization_losses = list(
            getattr(self._module, "regularization_losses", [])
        )

        variables, trainable_ids = self._module_variables()
        # Same paths as `add_weight` ("layer_name/variable_name").
        with keras.name_scope(self.name, caller=self):
            for variable in variables:
                # The Keras flag, not the module's, decides what gets trained;
                # `_track_variable` clears it while the layer is frozen.
                self._track_variable(
                    _ExistingVariable(
                        variable,
                        trainable=id(variable) in trainable_ids,
                        name=_keras_name(variable),
                    )
                )
        self._build_at_init()

    def _module_variables(self):
        if hasattr(self._module, "variables"):
            variables = list(self._module.variables)
            trainable = getattr(self._module, "trainable_variables", [])
            return variables, {id(v) for v in trainable}
        # Not a reusable SavedModel: fall back to what the function captures.
        variables = {}
        for fn in getattr(self._func, "concrete_functions", [self._func]):
            for v in fn.variables:
                variables.setdefault(id(v), v)
        return list(variables.values()), {
            key for key, v in variables.items() if v.trainable
        }

    @property
    def module(self):
        """The loaded SavedModel root (e.g. for `vocab_file`, `do_lower_case`)."""
        return self._module

    def call(self, inputs, training=None):
        if self.signature is not None:
            if not isinstance(inputs, dict):
                inputs = {self._single_input_name(): inputs}
            outputs = self._func(**inputs, **self.arguments)
        elif training and self.trainable and self._accepts_training:
            outputs = self._func(inputs, training=True, **self.arguments)
        else:
            # Leave `training` at the module's default (inference), the only
            # mode a module without the argument has.
            outputs = self._func(inputs, **self.arguments)

        if self.trainable:
            for loss_fn in self._regularization_losses:
                self.add_loss(loss_fn())
        if self.output_key is not None:
            outputs = outputs[self.output_key]
        return outputs

    def _single_input_name(self):
        _, specs = self._func.structured_input_signature
        if len(specs) != 1:
            raise ValueError(
                f"Signature '{self.signature}' takes inputs {sorted(specs)}; "
                "pass them as a dict."
            )
        return next(iter(specs))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "handle": self.handle,
                "trainable": self.trainable,
                "signature": self.signature,
                "arguments": self.arguments,
                "output_key": self.output_key,
            }
        )
        return config


def _load(handle):
    if not tf.saved_model.contains_saved_model(handle):
        raise ValueError(
            f"No SavedModel found at '{handle}' (expected a directory with "
            "saved_model.pb). `KerasLayer` loads local paths only."
        )
    return tf.saved_model.load(handle)
