"""detectron2's augmentation API: ``Transform`` (deterministic), ``Augmentation`` (policy), ``AugInput``.

Each submodule's ``__all__`` is the list of its public names; this package re-exports them.
"""

from . import augmentation, augmentation_impl, photometric, transform, warp
from .augmentation import *  # noqa: F403
from .augmentation_impl import *  # noqa: F403
from .photometric import *  # noqa: F403
from .transform import *  # noqa: F403
from .warp import *  # noqa: F403

__all__ = sorted(
    [*augmentation.__all__, *augmentation_impl.__all__, *photometric.__all__, *transform.__all__, *warp.__all__]
)
