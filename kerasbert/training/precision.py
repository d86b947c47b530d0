"""Which Keras dtype policy trains fastest on the devices at hand."""

import tensorflow as tf

# CPU flags of native bfloat16 dot products (x86: AVX-512 BF16, AMX). Without
# them oneDNN emulates bfloat16 and a matmul runs at about 0.55x float32; with
# them 1.6x (avx512_bf16, AMD EPYC) to 3.6x (AMX) here.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16_dot_products(cpuinfo_path="/proc/cpuinfo"):
    """Whether the CPU lists one of `BFLOAT16_CPU_FLAGS` (False where
    `cpuinfo_path` cannot be read: other systems than Linux)."""
    try:
        with open(cpuinfo_path) as f:
            cpuinfo = f.read()
    except OSError:
        return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            return any(flag in line.split(":", 1)[1].split() for flag in BFLOAT16_CPU_FLAGS)
    return False


def auto_mixed_precision(strategy=None, cpuinfo_path="/proc/cpuinfo"):
    """The policy `mixed_precision="auto"` stands for: `"mixed_bfloat16"` on
    TPUs, on GPUs of compute capability 8.0 or newer and on CPUs with native
    bfloat16 dot products; `"mixed_float16"` on older GPUs from 7.0 (tensor
    cores); otherwise None (float32)."""
    strategy = strategy or tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability") or (0, 0)
        if capability >= (8, 0):
            return "mixed_bfloat16"
        return "mixed_float16" if capability >= (7, 0) else None
    return "mixed_bfloat16" if cpu_has_bfloat16_dot_products(cpuinfo_path) else None
