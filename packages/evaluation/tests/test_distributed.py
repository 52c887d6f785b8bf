"""Two gloo processes each evaluate their shard; the main process scores the union."""

import json

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from modet.evaluation import COCOEvaluator, SemSegEvaluator, inference_on_dataset
from modet.structures import Boxes, Instances

BOXES = {1: [10.0, 10.0, 40.0, 40.0], 2: [5.0, 5.0, 30.0, 50.0]}


class BoxModel(torch.nn.Module):
    """Predicts the ground-truth box of the image it is given, and a constant label map."""

    def forward(self, inputs):
        outputs = []
        for x in inputs:
            inst = Instances((60, 60))
            inst.pred_boxes = Boxes(torch.tensor([BOXES[x["image_id"]]]))
            inst.scores = torch.tensor([0.9])
            inst.pred_classes = torch.tensor([0])
            outputs.append({"instances": inst, "sem_seg": torch.zeros(2, 2, 2).index_fill_(0, torch.tensor([1]), 1.0)})
        return outputs


def _worker(rank, world_size, init_file, gt_json, result_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        image_id = rank + 1  # each process sees one image
        loader = [[{"image_id": image_id, "sem_seg": torch.tensor([[1, 1], [1, 0]])}]]
        evaluators = [
            COCOEvaluator(
                None,
                tasks=("bbox",),
                metadata={"json_file": gt_json, "thing_classes": ["a"], "thing_dataset_id_to_contiguous_id": {1: 0}},
            ),
            SemSegEvaluator(None, num_classes=2, gt_files={}),
        ]
        results = inference_on_dataset(BoxModel(), loader, evaluators)
        if rank == 0:
            with open(result_file, "w") as f:
                json.dump(results, f)
        else:
            assert results == {}
        # rank 1 returns right after sending its shard; closing its connection before rank 0
        # has read everything aborts gloo (SIGABRT), so both wait here first
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_results_are_gathered_on_the_main_process(tmp_path):
    coco = {
        "images": [{"id": i, "file_name": f"{i}.png", "height": 60, "width": 60} for i in (1, 2)],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {
                "id": i,
                "image_id": i,
                "category_id": 1,
                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                "area": (b[2] - b[0]) * (b[3] - b[1]),
                "iscrowd": 0,
            }
            for i, b in BOXES.items()
        ],
    }
    gt_json = tmp_path / "gt.json"
    gt_json.write_text(json.dumps(coco))
    result_file = tmp_path / "results.json"
    mp.spawn(
        _worker,
        args=(2, str(tmp_path / "init"), str(gt_json), str(result_file)),
        nprocs=2,
        join=True,
    )
    results = json.loads(result_file.read_text())
    # each process alone would miss the other image's box (recall 1/2); together AP is 100
    assert results["bbox"]["AP"] == 100.0
    # 2 processes x (3 pixels of class 1 right, 1 pixel of class 0 predicted as 1): pACC = 6/8
    assert results["sem_seg"]["pACC"] == 75.0
    assert results["sem_seg"]["IoU-1"] == 75.0
