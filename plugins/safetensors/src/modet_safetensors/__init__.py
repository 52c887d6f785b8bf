"""modet-safetensors: ``.safetensors`` checkpoints for modet, found through the ``modet`` entry point."""

from importlib.metadata import version as _distribution_version

from .format import SAFETENSORS_FORMAT, load_safetensors, save_safetensors, sniff_safetensors

__version__ = _distribution_version("modet-safetensors")  # the one source of the version is pyproject.toml

__all__ = ["SAFETENSORS_FORMAT", "load_safetensors", "save_safetensors", "sniff_safetensors"]
