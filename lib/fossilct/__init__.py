"""fossilct: fossil species identification and slice-to-volume matching from micro-CT scans.

Modules are imported explicitly (``from fossilct import volumes, synthetic``); importing the
package itself loads nothing heavy (no TensorFlow, no Matplotlib).
"""

__version__ = "0.1.0"
