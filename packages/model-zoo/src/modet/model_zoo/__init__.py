"""detectron2's model zoo: every config of detectron2's ``configs/`` folder (YAML and LazyConfig) by
its detectron2 name, ``get_config``/``get`` to read and build them, ``get_checkpoint_url`` for the
released weights."""

from importlib.metadata import version as _distribution_version

from .model_zoo import available_configs, get, get_checkpoint_url, get_config, get_config_file

__version__ = _distribution_version("modet-model-zoo")  # the one source of the version is pyproject.toml

__all__ = ["available_configs", "get", "get_checkpoint_url", "get_config", "get_config_file"]
