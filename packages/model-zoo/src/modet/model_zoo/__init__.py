"""detectron2's model zoo: every config of detectron2's ``configs/`` folder (YAML and LazyConfig) by
its detectron2 name, ``get_config``/``get`` to read and build them, ``get_checkpoint_url`` for the
released weights."""

from .model_zoo import available_configs, get, get_checkpoint_url, get_config, get_config_file

__all__ = ["available_configs", "get", "get_checkpoint_url", "get_config", "get_config_file"]
