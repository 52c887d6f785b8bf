"""detectron2's model zoo: configs by name (``get_config``), released weights (``get_checkpoint_url``)."""

from .model_zoo import get, get_checkpoint_url, get_config, get_config_file

__all__ = ["get", "get_checkpoint_url", "get_config", "get_config_file"]
