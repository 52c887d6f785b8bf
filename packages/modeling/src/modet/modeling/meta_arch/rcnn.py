"""R-CNN meta-architectures: ``GeneralizedRCNN`` (backbone, proposals, ROI heads) and ``ProposalNetwork``."""

from __future__ import annotations

from typing import Any, Literal, overload

import torch
from torch import nn
from torchvision.utils import draw_bounding_boxes

from modet.core.config import CfgNode, configurable
from modet.core.events import get_event_storage
from modet.structures import Instances

from ..backbone import Backbone, build_backbone
from ..proposal_generator import build_proposal_generator
from ..roi_heads import build_roi_heads
from .base import ImageModel

__all__ = ["GeneralizedRCNN", "ProposalNetwork"]


class GeneralizedRCNN(ImageModel):
    """Backbone -> proposal generator -> per-region heads (Faster/Mask/Keypoint/Cascade R-CNN)."""

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        proposal_generator: nn.Module | None,
        roi_heads: nn.Module,
        pixel_mean: tuple[float, ...],
        pixel_std: tuple[float, ...],
        input_format: str | None = None,
        vis_period: int = 0,
    ) -> None:
        """``pixel_mean``/``pixel_std`` normalise the input; ``vis_period`` > 0 puts training
        visualisations (needs ``input_format``) into the EventStorage."""
        super().__init__()
        self.backbone = backbone
        self.proposal_generator = proposal_generator
        self.roi_heads = roi_heads
        self.input_format = input_format
        self.vis_period = vis_period
        if vis_period > 0 and input_format is None:
            raise ValueError("input_format is required for visualization!")
        self._register_pixel_stats(pixel_mean, pixel_std)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict[str, Any]:
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "proposal_generator": build_proposal_generator(cfg, backbone.output_shape()),
            "roi_heads": build_roi_heads(cfg, backbone.output_shape()),
            "input_format": cfg.INPUT.FORMAT,
            "vis_period": cfg.VIS_PERIOD,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    def visualize_training(self, batched_inputs: list[dict[str, Any]], proposals: list[Instances]) -> None:
        """Put one image with its gt boxes (left) and top-20 proposals (right) into the EventStorage."""
        storage = get_event_storage()
        max_vis_prop = 20
        for item, prop in zip(batched_inputs, proposals):
            img = item["image"].detach().cpu()
            if self.input_format == "BGR":
                img = img.flip(0)
            img = img.to(torch.uint8)
            gt_boxes = item["instances"].gt_boxes.tensor.detach().cpu()
            box_size = min(len(prop.proposal_boxes), max_vis_prop)
            prop_boxes = prop.proposal_boxes[0:box_size].tensor.detach().cpu()
            left = draw_bounding_boxes(img, gt_boxes, colors="green")
            right = draw_bounding_boxes(img, prop_boxes, colors="red")
            storage.put_image("Left: GT bounding boxes;  Right: Predicted proposals", torch.cat((left, right), dim=2))
            break  # only visualize one image in a batch

    def forward(self, batched_inputs: list[dict[str, Any]]) -> list[dict[str, Any]] | dict[str, torch.Tensor]:
        """Training: a dict of losses (needs an EventStorage and ``instances``); eval: one dict per image."""
        if not self.training:
            return self.inference(batched_inputs)
        self._check_inputs(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        features = self.backbone(images.tensor)

        if self.proposal_generator is not None:
            proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        else:
            proposals = self._given_proposals(batched_inputs)
            proposal_losses = {}

        _, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        if self.vis_period > 0 and get_event_storage().iter % self.vis_period == 0:
            self.visualize_training(batched_inputs, proposals)

        losses = {}
        losses.update(detector_losses)
        losses.update(proposal_losses)
        return losses

    def _given_proposals(self, batched_inputs: list[dict[str, Any]]) -> list[Instances]:
        missing = [i for i, x in enumerate(batched_inputs) if "proposals" not in x]
        if missing:
            raise KeyError(
                f"batched_inputs{missing} have no 'proposals' key: this model has no proposal generator "
                "(MODEL.PROPOSAL_GENERATOR.NAME is PrecomputedProposals)"
            )
        return [x["proposals"].to(self.device) for x in batched_inputs]

    @overload
    def inference(
        self,
        batched_inputs: list[dict[str, Any]],
        detected_instances: list[Instances] | None = None,
        do_postprocess: Literal[True] = True,
    ) -> list[dict[str, Any]]: ...

    @overload
    def inference(
        self,
        batched_inputs: list[dict[str, Any]],
        detected_instances: list[Instances] | None = None,
        do_postprocess: bool = True,
    ) -> list[dict[str, Any]] | list[Instances]: ...

    def inference(
        self,
        batched_inputs: list[dict[str, Any]],
        detected_instances: list[Instances] | None = None,
        do_postprocess: bool = True,
    ) -> list[dict[str, Any]] | list[Instances]:
        """Detections for each image.

        With ``detected_instances`` (boxes and classes already known) only the mask/keypoint heads run.
        With ``do_postprocess`` False, return raw ``Instances`` at the input image resolution.
        """
        if self.training:
            raise RuntimeError("GeneralizedRCNN.inference needs eval mode: call model.eval() first")
        self._check_inputs(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)

        if detected_instances is None:
            if self.proposal_generator is not None:
                proposals, _ = self.proposal_generator(images, features, None)
            else:
                proposals = self._given_proposals(batched_inputs)
            results, _ = self.roi_heads(images, features, proposals, None)
        else:
            detected_instances = [x.to(self.device) for x in detected_instances]
            roi_heads: Any = self.roi_heads  # any ROI heads with forward_with_given_boxes (detectron2's contract)
            results = roi_heads.forward_with_given_boxes(features, detected_instances)

        if do_postprocess:
            return GeneralizedRCNN._postprocess(results, batched_inputs, images.image_sizes)
        return results


class ProposalNetwork(ImageModel):
    """Backbone + proposal generator only (RPN): outputs ``proposals`` instead of detections."""

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        proposal_generator: nn.Module,
        pixel_mean: tuple[float, ...],
        pixel_std: tuple[float, ...],
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.proposal_generator = proposal_generator
        self._register_pixel_stats(pixel_mean, pixel_std)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict[str, Any]:
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "proposal_generator": build_proposal_generator(cfg, backbone.output_shape()),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    def forward(self, batched_inputs: list[dict[str, Any]]) -> list[dict[str, Any]] | dict[str, torch.Tensor]:
        """Training: the RPN losses; eval: ``{"proposals": Instances}`` per image at the output size."""
        self._check_inputs(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        if "instances" in batched_inputs[0]:
            gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        else:
            gt_instances = None
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        if self.training:
            return proposal_losses
        return self._postprocess(proposals, batched_inputs, images.image_sizes, key="proposals")
