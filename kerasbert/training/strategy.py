"""`tf.distribute` strategies by name."""

import tensorflow as tf

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")


def split_cpu(num_devices):
    """Splits the host CPU into `num_devices` logical devices (to run
    `mirrored` without GPUs). Must run before TensorFlow uses any device."""
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current and len(current) == num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
        )
    except RuntimeError as e:
        raise RuntimeError(
            f"num_cpu_devices={num_devices}: TensorFlow already initialized its devices; "
            "split the CPU before any TensorFlow op runs"
        ) from e


def get_strategy(name="one_device", tpu=None, num_cpu_devices=None):
    """Returns a strategy:

    - `one_device`: the first GPU, else the CPU;
    - `mirrored`: all local GPUs, else all logical CPUs (see
      `num_cpu_devices`);
    - `multi_worker_mirrored`: one replica per worker (and its local
      devices), the cluster described by the `TF_CONFIG` environment
      variable;
    - `tpu`: the TPU at `tpu` (a name, a `grpc://` address, or `"local"`).
    """
    if name not in STRATEGIES:
        raise ValueError(f"distribution_strategy={name!r} is not one of {STRATEGIES}")
    if num_cpu_devices:
        split_cpu(num_cpu_devices)
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
