"""modet-safetensors: ``.safetensors`` checkpoints for modet, found through the ``modet`` entry point."""

from .format import SAFETENSORS_FORMAT, load_safetensors, save_safetensors, sniff_safetensors

__version__ = "0.1.0"

__all__ = ["SAFETENSORS_FORMAT", "load_safetensors", "save_safetensors", "sniff_safetensors"]
