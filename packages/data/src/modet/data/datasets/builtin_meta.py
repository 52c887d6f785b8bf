"""Facts about COCO that detectron2's builtin datasets carry in their metadata: the 133 panoptic
categories (80 things, 53 stuff) with their dataset ids and display colours, and the person
keypoints (names, horizontal-flip pairs, skeleton lines with their colours).

``builtin_metadata(kind)`` returns the metadata detectron2 gives each kind of builtin COCO dataset
(``"coco"``, ``"coco_person"``, ``"coco_panoptic_separated"``, ``"coco_panoptic_standard"``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COCO_CATEGORIES",
    "COCO_PERSON_KEYPOINT_FLIP_MAP",
    "COCO_PERSON_KEYPOINT_NAMES",
    "KEYPOINT_CONNECTION_RULES",
    "builtin_metadata",
]

# (dataset id, is a thing, name, RGB display colour), in the order of COCO's panoptic categories.
_COCO_TABLE: tuple[tuple[int, bool, str, tuple[int, int, int]], ...] = (
    (1, True, "person", (220, 20, 60)),
    (2, True, "bicycle", (119, 11, 32)),
    (3, True, "car", (0, 0, 142)),
    (4, True, "motorcycle", (0, 0, 230)),
    (5, True, "airplane", (106, 0, 228)),
    (6, True, "bus", (0, 60, 100)),
    (7, True, "train", (0, 80, 100)),
    (8, True, "truck", (0, 0, 70)),
    (9, True, "boat", (0, 0, 192)),
    (10, True, "traffic light", (250, 170, 30)),
    (11, True, "fire hydrant", (100, 170, 30)),
    (13, True, "stop sign", (220, 220, 0)),
    (14, True, "parking meter", (175, 116, 175)),
    (15, True, "bench", (250, 0, 30)),
    (16, True, "bird", (165, 42, 42)),
    (17, True, "cat", (255, 77, 255)),
    (18, True, "dog", (0, 226, 252)),
    (19, True, "horse", (182, 182, 255)),
    (20, True, "sheep", (0, 82, 0)),
    (21, True, "cow", (120, 166, 157)),
    (22, True, "elephant", (110, 76, 0)),
    (23, True, "bear", (174, 57, 255)),
    (24, True, "zebra", (199, 100, 0)),
    (25, True, "giraffe", (72, 0, 118)),
    (27, True, "backpack", (255, 179, 240)),
    (28, True, "umbrella", (0, 125, 92)),
    (31, True, "handbag", (209, 0, 151)),
    (32, True, "tie", (188, 208, 182)),
    (33, True, "suitcase", (0, 220, 176)),
    (34, True, "frisbee", (255, 99, 164)),
    (35, True, "skis", (92, 0, 73)),
    (36, True, "snowboard", (133, 129, 255)),
    (37, True, "sports ball", (78, 180, 255)),
    (38, True, "kite", (0, 228, 0)),
    (39, True, "baseball bat", (174, 255, 243)),
    (40, True, "baseball glove", (45, 89, 255)),
    (41, True, "skateboard", (134, 134, 103)),
    (42, True, "surfboard", (145, 148, 174)),
    (43, True, "tennis racket", (255, 208, 186)),
    (44, True, "bottle", (197, 226, 255)),
    (46, True, "wine glass", (171, 134, 1)),
    (47, True, "cup", (109, 63, 54)),
    (48, True, "fork", (207, 138, 255)),
    (49, True, "knife", (151, 0, 95)),
    (50, True, "spoon", (9, 80, 61)),
    (51, True, "bowl", (84, 105, 51)),
    (52, True, "banana", (74, 65, 105)),
    (53, True, "apple", (166, 196, 102)),
    (54, True, "sandwich", (208, 195, 210)),
    (55, True, "orange", (255, 109, 65)),
    (56, True, "broccoli", (0, 143, 149)),
    (57, True, "carrot", (179, 0, 194)),
    (58, True, "hot dog", (209, 99, 106)),
    (59, True, "pizza", (5, 121, 0)),
    (60, True, "donut", (227, 255, 205)),
    (61, True, "cake", (147, 186, 208)),
    (62, True, "chair", (153, 69, 1)),
    (63, True, "couch", (3, 95, 161)),
    (64, True, "potted plant", (163, 255, 0)),
    (65, True, "bed", (119, 0, 170)),
    (67, True, "dining table", (0, 182, 199)),
    (70, True, "toilet", (0, 165, 120)),
    (72, True, "tv", (183, 130, 88)),
    (73, True, "laptop", (95, 32, 0)),
    (74, True, "mouse", (130, 114, 135)),
    (75, True, "remote", (110, 129, 133)),
    (76, True, "keyboard", (166, 74, 118)),
    (77, True, "cell phone", (219, 142, 185)),
    (78, True, "microwave", (79, 210, 114)),
    (79, True, "oven", (178, 90, 62)),
    (80, True, "toaster", (65, 70, 15)),
    (81, True, "sink", (127, 167, 115)),
    (82, True, "refrigerator", (59, 105, 106)),
    (84, True, "book", (142, 108, 45)),
    (85, True, "clock", (196, 172, 0)),
    (86, True, "vase", (95, 54, 80)),
    (87, True, "scissors", (128, 76, 255)),
    (88, True, "teddy bear", (201, 57, 1)),
    (89, True, "hair drier", (246, 0, 122)),
    (90, True, "toothbrush", (191, 162, 208)),
    (92, False, "banner", (255, 255, 128)),
    (93, False, "blanket", (147, 211, 203)),
    (95, False, "bridge", (150, 100, 100)),
    (100, False, "cardboard", (168, 171, 172)),
    (107, False, "counter", (146, 112, 198)),
    (109, False, "curtain", (210, 170, 100)),
    (112, False, "door-stuff", (92, 136, 89)),
    (118, False, "floor-wood", (218, 88, 184)),
    (119, False, "flower", (241, 129, 0)),
    (122, False, "fruit", (217, 17, 255)),
    (125, False, "gravel", (124, 74, 181)),
    (128, False, "house", (70, 70, 70)),
    (130, False, "light", (255, 228, 255)),
    (133, False, "mirror-stuff", (154, 208, 0)),
    (138, False, "net", (193, 0, 92)),
    (141, False, "pillow", (76, 91, 113)),
    (144, False, "platform", (255, 180, 195)),
    (145, False, "playingfield", (106, 154, 176)),
    (147, False, "railroad", (230, 150, 140)),
    (148, False, "river", (60, 143, 255)),
    (149, False, "road", (128, 64, 128)),
    (151, False, "roof", (92, 82, 55)),
    (154, False, "sand", (254, 212, 124)),
    (155, False, "sea", (73, 77, 174)),
    (156, False, "shelf", (255, 160, 98)),
    (159, False, "snow", (255, 255, 255)),
    (161, False, "stairs", (104, 84, 109)),
    (166, False, "tent", (169, 164, 131)),
    (168, False, "towel", (225, 199, 255)),
    (171, False, "wall-brick", (137, 54, 74)),
    (175, False, "wall-stone", (135, 158, 223)),
    (176, False, "wall-tile", (7, 246, 231)),
    (177, False, "wall-wood", (107, 255, 200)),
    (178, False, "water-other", (58, 41, 149)),
    (180, False, "window-blind", (183, 121, 142)),
    (181, False, "window-other", (255, 73, 97)),
    (184, False, "tree-merged", (107, 142, 35)),
    (185, False, "fence-merged", (190, 153, 153)),
    (186, False, "ceiling-merged", (146, 139, 141)),
    (187, False, "sky-other-merged", (70, 130, 180)),
    (188, False, "cabinet-merged", (134, 199, 156)),
    (189, False, "table-merged", (209, 226, 140)),
    (190, False, "floor-other-merged", (96, 36, 108)),
    (191, False, "pavement-merged", (96, 96, 96)),
    (192, False, "mountain-merged", (64, 170, 64)),
    (193, False, "grass-merged", (152, 251, 152)),
    (194, False, "dirt-merged", (208, 229, 228)),
    (195, False, "paper-merged", (206, 186, 171)),
    (196, False, "food-other-merged", (152, 161, 64)),
    (197, False, "building-other-merged", (116, 112, 0)),
    (198, False, "rock-merged", (0, 114, 143)),
    (199, False, "wall-other-merged", (102, 102, 156)),
    (200, False, "rug-merged", (250, 141, 255)),
)

#: COCO's categories as detectron2 lists them: dicts with ``id``, ``isthing`` (1/0), ``name``, ``color``.
COCO_CATEGORIES: list[dict[str, Any]] = [
    {"id": id_, "isthing": int(isthing), "name": name, "color": list(color)}
    for id_, isthing, name, color in _COCO_TABLE
]

COCO_PERSON_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

#: Keypoints that swap names when the image is flipped left-right.
COCO_PERSON_KEYPOINT_FLIP_MAP: tuple[tuple[str, str], ...] = tuple(
    (f"left_{part}", f"right_{part}") for part in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
)

#: Skeleton lines a visualizer draws: (keypoint, keypoint, RGB colour).
KEYPOINT_CONNECTION_RULES: list[tuple[str, str, tuple[int, int, int]]] = [
    ("left_ear", "left_eye", (102, 204, 255)),
    ("right_ear", "right_eye", (51, 153, 255)),
    ("left_eye", "nose", (102, 0, 204)),
    ("nose", "right_eye", (51, 102, 255)),
    ("left_shoulder", "right_shoulder", (255, 128, 0)),
    ("left_shoulder", "left_elbow", (153, 255, 204)),
    ("right_shoulder", "right_elbow", (128, 229, 255)),
    ("left_elbow", "left_wrist", (153, 255, 153)),
    ("right_elbow", "right_wrist", (102, 255, 224)),
    ("left_hip", "right_hip", (255, 102, 0)),
    ("left_hip", "left_knee", (255, 255, 77)),
    ("right_hip", "right_knee", (153, 255, 204)),
    ("left_knee", "left_ankle", (191, 255, 128)),
    ("right_knee", "right_ankle", (255, 195, 77)),
]

# The colour of the single "things" class of the stuff-only semantic labels (detectron2's choice).
_THINGS_AS_STUFF_COLOR = [82, 18, 128]


def _coco_instances_metadata() -> dict[str, Any]:
    things = [c for c in COCO_CATEGORIES if c["isthing"]]
    return {
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(things)},
        "thing_classes": [c["name"] for c in things],
        "thing_colors": [list(c["color"]) for c in things],
    }


def _coco_panoptic_separated_metadata() -> dict[str, Any]:
    """Things as in instance detection; stuff as semantic classes 1..53 after a class 0, "things"."""
    stuff = [c for c in COCO_CATEGORIES if not c["isthing"]]
    stuff_ids = {0: 0, **{c["id"]: i + 1 for i, c in enumerate(stuff)}}
    return {
        "stuff_dataset_id_to_contiguous_id": stuff_ids,
        "stuff_classes": ["things"] + [c["name"].replace("-other", "").replace("-merged", "") for c in stuff],
        "stuff_colors": [list(_THINGS_AS_STUFF_COLOR)] + [list(c["color"]) for c in stuff],
        **_coco_instances_metadata(),
    }


def _coco_panoptic_standard_metadata() -> dict[str, Any]:
    """All 133 categories share one contiguous id space, listed as both things and stuff (for drawing)."""
    names = [c["name"] for c in COCO_CATEGORIES]
    colors = [list(c["color"]) for c in COCO_CATEGORIES]
    return {
        "thing_classes": list(names),
        "thing_colors": [list(c) for c in colors],
        "stuff_classes": list(names),
        "stuff_colors": [list(c) for c in colors],
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(COCO_CATEGORIES) if c["isthing"]},
        "stuff_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(COCO_CATEGORIES) if not c["isthing"]},
    }


def builtin_metadata(kind: str) -> dict[str, Any]:
    """The metadata of one kind of builtin COCO dataset (a fresh dict each call)."""
    if kind == "coco":
        return _coco_instances_metadata()
    if kind == "coco_person":
        return {
            "thing_classes": ["person"],
            "keypoint_names": COCO_PERSON_KEYPOINT_NAMES,
            "keypoint_flip_map": COCO_PERSON_KEYPOINT_FLIP_MAP,
            "keypoint_connection_rules": list(KEYPOINT_CONNECTION_RULES),
        }
    if kind == "coco_panoptic_separated":
        return _coco_panoptic_separated_metadata()
    if kind == "coco_panoptic_standard":
        return _coco_panoptic_standard_metadata()
    raise KeyError(
        f"No builtin metadata for {kind!r}; known: coco, coco_person, coco_panoptic_separated, coco_panoptic_standard"
    )
