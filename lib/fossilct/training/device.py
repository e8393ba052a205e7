"""Seeding and device setup: the only place that touches TensorFlow's global state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

__all__ = ["set_global_seed", "DeviceConfig", "configure_device"]


def set_global_seed(seed: int, *, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras once, and ask for deterministic kernels.

    The one helper a notebook calls with its ``seed`` parameter; library functions take explicit
    ``rng`` arguments instead of relying on it.

    Parameters
    ----------
    seed : int
        Non-negative seed.
    deterministic_ops : bool
        Call ``tf.config.experimental.enable_op_determinism()``: kernels with a deterministic
        implementation use it, and an op without one raises instead of silently varying. It stays
        on for the rest of the process.

    Raises
    ------
    ValueError
        If `seed` is negative or not an int.

    Examples
    --------
    >>> import numpy as np
    >>> set_global_seed(3, deterministic_ops=False)
    >>> first = np.random.rand()
    >>> set_global_seed(3, deterministic_ops=False)
    >>> first == np.random.rand()
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int; got {seed!r}. Set `seed` in the "
                         "profile YAML.")
    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class DeviceConfig:
    """What :func:`configure_device` chose.

    Attributes
    ----------
    n_gpus : int
    mixed_precision : bool
        Global Keras dtype policy is ``mixed_float16``.
    xla : bool
        Pass as ``jit_compile`` to :func:`fossilct.training.fit_model`.
    strategy_name : str
        ``MirroredStrategy`` (several GPUs) or ``default``.
    strategy : tf.distribute.Strategy
        The strategy models must be built and compiled under (already made the default).
    """

    n_gpus: int
    mixed_precision: bool
    xla: bool
    strategy_name: str
    strategy: Any = field(repr=False, compare=False)

    def describe(self) -> dict:
        """The settings as a plain dict, for ``params.yaml``."""
        return dict(n_gpus=self.n_gpus, mixed_precision=self.mixed_precision, xla=self.xla,
                    strategy=self.strategy_name)


def _resolve(name: str, value: bool | str, has_gpu: bool) -> bool:
    if value == "auto":
        return has_gpu
    if isinstance(value, bool):
        return value
    raise ValueError(f"`{name}`={value!r}; choose 'auto', True or False.")


def configure_device(*, mixed_precision: bool | str = "auto",
                     xla: bool | str = "auto") -> DeviceConfig:
    """Choose precision, XLA and the distribution strategy for the visible devices.

    Parameters
    ----------
    mixed_precision : {"auto", True, False}
        ``"auto"``: on when a GPU is visible. Sets the global Keras dtype policy to
        ``mixed_float16`` (on) or ``float32`` (off).
    xla : {"auto", True, False}
        ``"auto"``: on when a GPU is visible; returned, to be passed as ``jit_compile``.

    Returns
    -------
    DeviceConfig
        With several GPUs the strategy is a ``tf.distribute.MirroredStrategy``, made the default
        strategy so that models built afterwards are mirrored; otherwise the default strategy.

    Raises
    ------
    ValueError
        If an option is not "auto", True or False.

    Examples
    --------
    >>> config = configure_device(mixed_precision=False, xla=False)
    >>> config.mixed_precision, config.xla
    (False, False)
    """
    gpus = tf.config.list_physical_devices("GPU")
    use_mixed = _resolve("mixed_precision", mixed_precision, bool(gpus))
    use_xla = _resolve("xla", xla, bool(gpus))
    keras.config.set_dtype_policy("mixed_float16" if use_mixed else "float32")
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        tf.distribute.experimental_set_strategy(strategy)
        name = "MirroredStrategy"
    else:
        strategy = tf.distribute.get_strategy()
        name = "default"
    return DeviceConfig(n_gpus=len(gpus), mixed_precision=use_mixed, xla=use_xla,
                        strategy_name=name, strategy=strategy)
