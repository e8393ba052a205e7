"""Training: seeding and devices, two-phase fitting with resume, and the model folder.

``from fossilct import training`` gives the public API:

- :func:`set_global_seed`, :func:`configure_device` (``device``)
- :func:`fit_model` (``fit``), built on the state and callbacks of ``state``
- :func:`backup_fingerprint` (``fingerprint``): what a resumed backup must match
- :class:`EpochTimer` (``timing``): wall time per epoch, for ``timing.json``
- :func:`save_training_outputs`, :func:`load_training_outputs`, :func:`check_trained_on`
  (``outputs``)
- :class:`LiveTensorBoard`, TensorBoard logs written during training (``live_logs``)
"""

from fossilct.training.device import DeviceConfig, configure_device, set_global_seed
from fossilct.training.fingerprint import backup_fingerprint
from fossilct.training.fit import fit_model
from fossilct.training.live_logs import LiveTensorBoard
from fossilct.training.outputs import (OUTPUT_FILES, check_trained_on, load_training_outputs,
                                       read_training_params, save_training_outputs,
                                       write_tensorboard_logs)
from fossilct.training.timing import EpochTimer

__all__ = [
    "set_global_seed",
    "DeviceConfig",
    "configure_device",
    "fit_model",
    "EpochTimer",
    "backup_fingerprint",
    "OUTPUT_FILES",
    "save_training_outputs",
    "load_training_outputs",
    "read_training_params",
    "check_trained_on",
    "write_tensorboard_logs",
    "LiveTensorBoard",
]
