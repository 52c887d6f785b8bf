"""Meta-architectures (whole models) and ``build_model``."""

from .base import ImageModel
from .build import META_ARCH_REGISTRY, build_model
from .dense_detector import DenseDetector
from .fcos import FCOS
from .panoptic_fpn import PanopticFPN, combine_semantic_and_instance_outputs
from .rcnn import GeneralizedRCNN, ProposalNetwork
from .retinanet import RetinaNet
from .semantic_seg import SEM_SEG_HEADS_REGISTRY, SemanticSegmentor, SemSegFPNHead, build_sem_seg_head

__all__ = [
    "FCOS",
    "META_ARCH_REGISTRY",
    "SEM_SEG_HEADS_REGISTRY",
    "DenseDetector",
    "GeneralizedRCNN",
    "ImageModel",
    "PanopticFPN",
    "ProposalNetwork",
    "RetinaNet",
    "SemSegFPNHead",
    "SemanticSegmentor",
    "build_model",
    "build_sem_seg_head",
    "combine_semantic_and_instance_outputs",
]
