"""detectron2's augmentation API: ``Transform`` (deterministic), ``Augmentation`` (policy), ``AugInput``.

Each submodule's ``__all__`` is the list of its public names; this package re-exports them.
"""

from . import augmentation, augmentation_impl, transform
from .augmentation import *  # noqa: F403
from .augmentation_impl import *  # noqa: F403
from .transform import *  # noqa: F403

__all__ = sorted([*augmentation.__all__, *augmentation_impl.__all__, *transform.__all__])
