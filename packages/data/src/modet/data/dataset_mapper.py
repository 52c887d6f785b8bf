"""``DatasetMapper``: one dataset record (dict) -> the model's input dict."""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch

from modet.core.config import configurable
from modet.structures import Boxes, BoxMode, Instances

from . import detection_utils as utils
from . import transforms as T

__all__ = ["DatasetMapper"]

logger = logging.getLogger(__name__)


class DatasetMapper:
    """Read the image, apply augmentations to it and its annotations, and build the model input.

    The output has ``image`` (a ``(C, H, W)`` uint8 tensor in ``image_format``), ``height`` and
    ``width`` (the original size, so predictions come back at that resolution), the record's other
    fields, and in training ``instances`` (``gt_boxes``, ``gt_classes``, optionally ``gt_masks`` and
    ``gt_keypoints``) and ``sem_seg`` when the record names a ``sem_seg_file_name``.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: list[T.Augmentation | T.Transform],
        image_format: str,
        use_instance_mask: bool = False,
        use_keypoint: bool = False,
        instance_mask_format: str = "polygon",
        keypoint_hflip_indices: np.ndarray | None = None,
        precomputed_proposal_topk: int | None = None,
        recompute_boxes: bool = False,
    ):
        if recompute_boxes and not use_instance_mask:
            raise ValueError("recompute_boxes requires instance masks (use_instance_mask=True)")
        if instance_mask_format not in ("polygon", "bitmask"):
            raise ValueError(f"instance_mask_format must be 'polygon' or 'bitmask', got {instance_mask_format!r}")
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.use_instance_mask = use_instance_mask
        self.instance_mask_format = instance_mask_format
        self.use_keypoint = use_keypoint
        self.keypoint_hflip_indices = keypoint_hflip_indices
        self.proposal_topk = precomputed_proposal_topk
        self.recompute_boxes = recompute_boxes
        logger.info(
            "[DatasetMapper] Augmentations used in %s: %s", "training" if is_train else "inference", augmentations
        )

    @classmethod
    def from_config(cls, cfg: Any, is_train: bool = True) -> dict[str, Any]:
        augs: list[T.Augmentation] = utils.build_augmentation(cfg, is_train)
        if cfg.INPUT.CROP.ENABLED and is_train:
            augs.insert(0, T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE))
            recompute_boxes = cfg.MODEL.MASK_ON
        else:
            recompute_boxes = False
        ret: dict[str, Any] = {
            "is_train": is_train,
            "augmentations": augs,
            "image_format": cfg.INPUT.FORMAT,
            "use_instance_mask": cfg.MODEL.MASK_ON,
            "instance_mask_format": cfg.INPUT.MASK_FORMAT,
            "use_keypoint": cfg.MODEL.KEYPOINT_ON,
            "recompute_boxes": recompute_boxes,
        }
        if cfg.MODEL.KEYPOINT_ON:
            ret["keypoint_hflip_indices"] = utils.create_keypoint_hflip_indices(cfg.DATASETS.TRAIN)
        if cfg.MODEL.LOAD_PROPOSALS:
            ret["precomputed_proposal_topk"] = (
                cfg.DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN
                if is_train
                else cfg.DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST
            )
        return ret

    def _transform_annotations(
        self, dataset_dict: dict[str, Any], transforms: T.TransformList, image_shape: tuple[int, int]
    ) -> None:
        for anno in dataset_dict["annotations"]:
            if not self.use_instance_mask:
                anno.pop("segmentation", None)
            if not self.use_keypoint:
                anno.pop("keypoints", None)
        annos = [
            utils.transform_instance_annotations(
                obj, transforms, image_shape, keypoint_hflip_indices=self.keypoint_hflip_indices
            )
            for obj in dataset_dict.pop("annotations")
            if obj.get("iscrowd", 0) == 0
        ]
        instances = utils.annotations_to_instances(annos, image_shape, mask_format=self.instance_mask_format)
        # After a crop, a box enclosing the cropped mask is tighter than the cropped box.
        if self.recompute_boxes:
            instances.gt_boxes = instances.gt_masks.get_bounding_boxes()
        dataset_dict["instances"] = utils.filter_empty_instances(instances)

    def __call__(self, dataset_dict: dict[str, Any]) -> dict[str, Any]:
        dataset_dict = copy.deepcopy(dataset_dict)  # the caller's record must stay untouched
        if "file_name" not in dataset_dict:
            raise KeyError(f"dataset record has no 'file_name': keys are {sorted(dataset_dict)}")
        try:
            image = utils.read_image(dataset_dict["file_name"], format=self.image_format)
        except OSError as exc:  # FileNotFoundError included: name the record, not only the file
            raise type(exc)(f"{exc} (dataset record image_id={dataset_dict.get('image_id')!r})") from None
        utils.check_image_size(dataset_dict, image)

        sem_seg_gt = None
        if "sem_seg_file_name" in dataset_dict:
            sem_seg_gt = utils.read_image(dataset_dict.pop("sem_seg_file_name"), "L").squeeze(2)

        aug_input = T.AugInput(image, sem_seg=sem_seg_gt)
        transforms = self.augmentations(aug_input)
        image, sem_seg_gt = aug_input.image, aug_input.sem_seg
        image_shape = image.shape[:2]
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if sem_seg_gt is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(sem_seg_gt.astype("long"))

        if self.proposal_topk is not None:
            _transform_proposals(dataset_dict, image_shape, transforms, proposal_topk=self.proposal_topk)

        if not self.is_train:
            dataset_dict.pop("annotations", None)
            dataset_dict.pop("sem_seg_file_name", None)
            return dataset_dict

        if "annotations" in dataset_dict:
            self._transform_annotations(dataset_dict, transforms, image_shape)
        return dataset_dict


def _transform_proposals(
    dataset_dict: dict[str, Any], image_shape: tuple[int, int], transforms: T.Transform, *, proposal_topk: int
) -> None:
    """Turn precomputed ``proposal_boxes``/``proposal_objectness_logits`` into ``proposals`` Instances."""
    if "proposal_boxes" not in dataset_dict:
        return
    box_array = transforms.apply_box(
        BoxMode.convert(dataset_dict.pop("proposal_boxes"), dataset_dict.pop("proposal_bbox_mode"), BoxMode.XYXY_ABS)
    )
    boxes = Boxes(torch.as_tensor(box_array, dtype=torch.float32))
    objectness_logits = torch.as_tensor(dataset_dict.pop("proposal_objectness_logits").astype("float32"))
    boxes.clip(image_shape)
    keep = boxes.nonempty(threshold=0)
    boxes, objectness_logits = boxes[keep], objectness_logits[keep]
    proposals = Instances(image_shape)
    proposals.proposal_boxes = boxes[:proposal_topk]
    proposals.objectness_logits = objectness_logits[:proposal_topk]
    dataset_dict["proposals"] = proposals
