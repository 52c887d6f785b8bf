"""A few iterations of the main job, end to end (the full run is benchmarks/bench_demo.py)."""

import json

SHAPES = ["square", "triangle", "ellipse"]


def test_demo_writes_metrics_checkpoint_table_and_pngs(tmp_path):
    import torch

    from modet.data import DatasetCatalog, MetadataCatalog
    from modet.engine.cli import main

    threads = torch.get_num_threads()
    out = tmp_path / "out"
    status = main(
        [
            *("demo", "--output-dir", str(out), "--iters", "2"),
            *("--num-train", "4", "--num-val", "2", "--num-vis", "1", "SOLVER.IMS_PER_BATCH", "2"),
        ]
    )
    try:
        assert status == 0
        metrics = json.loads((out / "results.json").read_text())
        assert set(metrics) >= {"bbox", "segm", "iterations", "train_seconds", "checkpoint"}
        assert metrics["iterations"] == 2
        for task in ("bbox", "segm"):
            ap = metrics[task]["AP"]
            assert ap is None or 0 <= ap <= 100
        log = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
        assert [line["iteration"] for line in log if "total_loss" in line] == [1]  # the trainer's log, kept
        assert log[-1]["bbox/AP"] == metrics["bbox"]["AP"] or metrics["bbox"]["AP"] is None
        assert (out / "model_final.pth").is_file()
        assert "## bbox" in (out / "ap_table.md").read_text()
        assert [p.name for p in (out / "predictions").iterdir()] == ["00001.png"]
        assert (out / "shapes" / "annotations" / "instances_val.json").is_file()
    finally:
        torch.set_num_threads(threads)  # the demo sets one thread for its process
        for name in ("shapes_train", "shapes_val", "shapes_train_sem_seg", "shapes_val_sem_seg"):
            DatasetCatalog.pop(name, None)
            MetadataCatalog.pop(name, None)

    # The trained model names its shapes wherever it is loaded: the names travel in the checkpoint
    # (the shapes datasets are no longer registered here).
    assert torch.load(out / "model_final.pth", weights_only=True)["metadata"]["thing_classes"] == SHAPES
    predictions = tmp_path / "predictions"
    status = main(
        [
            *("predict", "--config-file", str(out / "config.yaml"), "--weights", str(out / "model_final.pth")),
            *("--input", str(out / "shapes" / "images" / "val"), "--output", str(predictions)),
            *("--confidence-threshold", "0"),
        ]
    )
    assert status == 0
    instances = [i for path in predictions.glob("*.json") for i in json.loads(path.read_text())["instances"]]
    assert instances and all(i["category_name"] == SHAPES[i["category_id"]] for i in instances)
