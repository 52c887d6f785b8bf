"""detectron2's import paths on modet (the ``modet-detectron2`` distribution).

Every ``detectron2.*`` module here re-exports modet's objects: ``detectron2.modeling.build_model``
*is* ``modet.modeling.build_model``, so registering a component through either name registers it
in both. The real detectron2 and this package both own the ``detectron2`` import name; the two
cannot be installed together, and importing this one beside the real one stops with an error.
"""

from importlib import metadata as _metadata


def _refuse_beside_real_detectron2() -> None:
    try:
        real = _metadata.distribution("detectron2")
    except _metadata.PackageNotFoundError:
        return
    raise ImportError(
        f"modet-detectron2 and detectron2 {real.version} (at {real.locate_file('')}) are both installed and "
        "both provide the 'detectron2' import package. Keep one: 'pip uninstall detectron2' to run on modet, "
        "or 'pip uninstall modet-detectron2' to use the real detectron2."
    )


_refuse_beside_real_detectron2()


def _distribution_version(name: str) -> str:
    """detectron2's release this layer follows (0.6), with the installed ``name``'s version
    (pyproject.toml, the one source) as the PEP 440 local part: ``0.6+modet.0.1.0``."""
    return f"0.6+modet.{_metadata.version(name)}"


__version__ = _distribution_version("modet-detectron2")
