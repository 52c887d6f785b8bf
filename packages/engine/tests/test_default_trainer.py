import json
import math

from conftest import tiny_mask_rcnn_cfg

from modet import evaluation
from modet.engine import DefaultTrainer
from modet.engine.defaults import seed_all_rng


class ShapesTrainer(DefaultTrainer):
    @classmethod
    def build_evaluator(cls, cfg, dataset_name):
        return evaluation.COCOEvaluator(dataset_name, output_dir=cfg.OUTPUT_DIR)


def test_default_trainer_trains_and_evaluates_on_modet_data(tmp_path):
    from modet.data.datasets import register_shapes

    register_shapes(tmp_path / "shapes", prefix="engine_test_shapes", num_train=4, num_val=2)
    cfg = tiny_mask_rcnn_cfg()
    cfg.DATASETS.TRAIN = ("engine_test_shapes_train",)
    cfg.DATASETS.TEST = ("engine_test_shapes_val",)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.INPUT.MIN_SIZE_TRAIN = (64,)
    cfg.INPUT.MAX_SIZE_TRAIN = 96
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.MAX_ITER = 3
    cfg.OUTPUT_DIR = str(tmp_path / "out")
    seed_all_rng(0)  # weights and the loader's shuffling (what default_setup does with cfg.SEED)
    trainer = ShapesTrainer(cfg)
    trainer.resume_or_load(resume=False)
    results = trainer.train()  # evaluates after the last iteration
    assert trainer.iter == 3
    assert set(results) == {"bbox", "segm"}
    assert {"AP", "AP50", "AP-square", "AP-triangle", "AP-ellipse"} <= set(results["bbox"])
    lines = [json.loads(line) for line in (tmp_path / "out" / "metrics.json").read_text().splitlines()]
    evaluated = [line for line in lines if "bbox/AP" in line]
    assert len(evaluated) == 1
    ap = evaluated[0]["bbox/AP"]
    assert ap == results["bbox"]["AP"] or (math.isnan(ap) and math.isnan(results["bbox"]["AP"]))
    assert (tmp_path / "out" / "model_final.pth").is_file()
