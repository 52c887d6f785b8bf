"""Dataset metadata for evaluators: passed in directly, or read lazily from modet-data's catalogs."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any


def _require_modet_data(what: str) -> Any:
    try:
        # optional: evaluators take metadata as an argument; modet-data is not a dependency
        import modet.data as data
    except ImportError as exc:
        raise ImportError(
            f"{what} needs modet-data to look up a dataset by name (pip install modet-data), "
            "or pass the metadata / ground truth explicitly"
        ) from exc
    return data


def resolve_metadata(dataset_name: str | None, metadata: Any, evaluator: str) -> Any:
    """An object with the dataset's metadata attributes (``json_file``, ``thing_classes``…)."""
    if metadata is not None:
        return types.SimpleNamespace(**metadata) if isinstance(metadata, Mapping) else metadata
    if dataset_name is None:
        raise ValueError(f"{evaluator} needs a dataset_name or metadata=...")
    return _require_modet_data(evaluator).MetadataCatalog.get(dataset_name)


def dataset_records(dataset_name: str, evaluator: str) -> list[dict[str, Any]]:
    return _require_modet_data(evaluator).DatasetCatalog.get(dataset_name)
