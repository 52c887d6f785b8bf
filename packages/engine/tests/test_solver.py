import math

import pytest
import torch

from modet.core import CfgNode, get_cfg
from modet.engine.solver import (
    WarmupCosineLR,
    WarmupMultiStepLR,
    WarmupStepWithFixedGammaLR,
    build_lr_scheduler,
    build_optimizer,
    get_default_optimizer_params,
)


def _optimizer(lr: float = 1.0) -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9)


def _lrs(scheduler, optimizer, num_iters: int) -> list[float]:
    lrs = []
    for _ in range(num_iters):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_solver_defaults_are_detectron2s():
    solver = get_cfg().SOLVER
    assert solver.STEPS == (30000,)
    assert solver.WEIGHT_DECAY_BIAS is None
    assert pytest.approx(0.001) == solver.WARMUP_FACTOR
    assert solver.CLIP_GRADIENTS.NORM_TYPE == 2.0
    assert solver.AMP.ENABLED is False
    assert solver.LR_SCHEDULER_NAME == "WarmupMultiStepLR"


def test_warmup_multistep_matches_hand_computed_values():
    opt = _optimizer()
    sched = WarmupMultiStepLR(opt, [40, 70], max_iter=100, gamma=0.1, warmup_factor=0.1, warmup_iters=10)
    lrs = _lrs(sched, opt, 100)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(0.1 * 0.5 + 1.0 * 0.5)  # linear from 0.1 to 1 over 10 iterations
    assert lrs[9] == pytest.approx(0.1 * 0.1 + 0.9)
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[39] == pytest.approx(1.0)
    assert lrs[40] == pytest.approx(0.1)
    assert lrs[69] == pytest.approx(0.1)
    assert lrs[70] == pytest.approx(0.01)
    assert lrs[99] == pytest.approx(0.01)


def test_multistep_with_repeated_steps_and_steps_at_zero():
    # a very short run's SOLVER.STEPS may repeat a step or put one at 0: gamma applies per occurrence
    opt = _optimizer()
    sched = WarmupMultiStepLR(opt, [1, 1], max_iter=3, gamma=0.1, warmup_iters=0)
    assert _lrs(sched, opt, 3) == pytest.approx([1.0, 0.01, 0.01])
    opt = _optimizer()
    sched = WarmupMultiStepLR(opt, [0, 2, 5], max_iter=4, gamma=0.5, warmup_iters=0)
    assert _lrs(sched, opt, 4) == pytest.approx([0.5, 0.5, 0.25, 0.25])


def test_constant_warmup():
    opt = _optimizer()
    sched = WarmupMultiStepLR(opt, [50], max_iter=100, warmup_factor=0.1, warmup_iters=10, warmup_method="constant")
    lrs = _lrs(sched, opt, 12)
    assert lrs[:10] == pytest.approx([0.1] * 10)
    assert lrs[10:] == pytest.approx([1.0, 1.0])


def test_cosine_values():
    opt = _optimizer()
    sched = WarmupCosineLR(opt, max_iter=100, warmup_iters=0)
    lrs = _lrs(sched, opt, 100)
    assert lrs[0] == pytest.approx(1.0)
    assert lrs[25] == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lrs[50] == pytest.approx(0.5)
    opt = _optimizer(2.0)
    sched = WarmupCosineLR(opt, max_iter=100, end_factor=0.0, warmup_factor=0.001, warmup_iters=10)
    lrs = _lrs(sched, opt, 11)
    end_of_warmup = 0.5 * (1 + math.cos(0.1 * math.pi))
    assert lrs[5] == pytest.approx(2.0 * (0.5 * end_of_warmup + 0.5 * 0.001))
    assert lrs[10] == pytest.approx(2.0 * end_of_warmup)


def test_step_with_fixed_gamma():
    opt = _optimizer()
    sched = WarmupStepWithFixedGammaLR(opt, max_iter=100, gamma=0.5, num_decays=3, warmup_iters=0)
    lrs = _lrs(sched, opt, 101)
    assert [lrs[i] for i in (0, 24, 25, 49, 50, 75, 99, 100)] == pytest.approx(
        [1, 1, 0.5, 0.5, 0.25, 0.125, 0.125, 0.125]
    )


def test_build_lr_scheduler_from_cfg_and_resume_state():
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = 0.02
    cfg.SOLVER.MAX_ITER = 60
    cfg.SOLVER.STEPS = (30, 50, 1000)  # 1000 > MAX_ITER is ignored, as in detectron2
    cfg.SOLVER.WARMUP_ITERS = 5
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    sched = build_lr_scheduler(cfg, opt)
    lrs = _lrs(sched, opt, 55)
    assert lrs[0] == pytest.approx(0.02 * 0.001)
    assert lrs[29] == pytest.approx(0.02)
    assert lrs[30] == pytest.approx(0.002)
    assert lrs[50] == pytest.approx(0.0002)
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.SOLVER.BASE_LR)
    sched2 = build_lr_scheduler(cfg, opt2)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


def test_unknown_scheduler_and_warmup_errors_name_the_key():
    cfg = get_cfg()
    # refused when set (modet-engine declares the choices) ...
    with pytest.raises(ValueError, match="SOLVER.LR_SCHEDULER_NAME = 'Nope' is invalid: it must be one of"):
        cfg.SOLVER.LR_SCHEDULER_NAME = "Nope"
    with pytest.raises(ValueError, match="SOLVER.WARMUP_METHOD = 'quadratic' is invalid"):
        cfg.merge_from_list(["SOLVER.WARMUP_METHOD", "quadratic"])
    # ... and by the builder, for a config made without the checks (a plain tree of values)
    unchecked = CfgNode(cfg)
    unchecked.SOLVER.LR_SCHEDULER_NAME = "Nope"
    with pytest.raises(ValueError, match="LR_SCHEDULER_NAME 'Nope'"):
        build_lr_scheduler(unchecked, _optimizer())
    unchecked.SOLVER.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
    unchecked.SOLVER.WARMUP_METHOD = "quadratic"
    with pytest.raises(ValueError, match="WARMUP_METHOD"):
        build_lr_scheduler(unchecked, _optimizer())


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_param_groups_weight_decay_for_norm_and_bias():
    net = _Net()
    groups = get_default_optimizer_params(
        net, base_lr=0.1, weight_decay_norm=0.0, bias_lr_factor=2.0, weight_decay_bias=0.0
    )
    by_param = {id(p): {k: v for k, v in g.items() if k != "params"} for g in groups for p in g["params"]}
    assert by_param[id(net.conv.weight)] == {"lr": 0.1}
    assert by_param[id(net.fc.weight)] == {"lr": 0.1}
    assert by_param[id(net.conv.bias)] == {"lr": 0.2, "weight_decay": 0.0}
    assert by_param[id(net.bn.weight)] == {"lr": 0.1, "weight_decay": 0.0}
    assert by_param[id(net.bn.bias)] == {"lr": 0.2, "weight_decay": 0.0}
    assert id(net.frozen.weight) not in by_param
    assert len(groups) == 3  # equal hyperparameters share a group
    assert [p for p in groups[0]["params"]] == [net.conv.weight, net.fc.weight]


def test_build_optimizer_hyperparameters():
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = 0.05
    cfg.SOLVER.WEIGHT_DECAY = 1e-3
    cfg.SOLVER.NESTEROV = True
    net = _Net()
    opt = build_optimizer(cfg, net)
    assert isinstance(opt, torch.optim.SGD)
    weight_group = next(g for g in opt.param_groups if any(p is net.conv.weight for p in g["params"]))
    norm_group = next(g for g in opt.param_groups if any(p is net.bn.weight for p in g["params"]))
    assert weight_group["weight_decay"] == pytest.approx(1e-3)
    assert weight_group["momentum"] == pytest.approx(0.9) and weight_group["nesterov"]
    assert norm_group["weight_decay"] == 0.0
    bias_group = next(g for g in opt.param_groups if any(p is net.conv.bias for p in g["params"]))
    assert bias_group["weight_decay"] == pytest.approx(1e-3)  # WEIGHT_DECAY_BIAS None: same as weights


def _clipped_step(clip_type: str, clip_value: float, grads: list[torch.Tensor]) -> list[torch.Tensor]:
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = 1.0
    cfg.SOLVER.MOMENTUM = 0.0
    cfg.SOLVER.WEIGHT_DECAY = 0.0
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = True
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = clip_type
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE = clip_value
    net = torch.nn.Module()
    net.a = torch.nn.Parameter(torch.zeros(2))
    net.b = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer(cfg, net)
    net.a.grad, net.b.grad = grads[0].clone(), grads[1].clone()
    opt.step()
    # lr 1, no momentum or decay: the update is minus the (clipped) gradient
    return [-net.a.detach(), -net.b.detach()]


def test_gradient_clipping_value_norm_and_full_model():
    grads = [torch.tensor([3.0, -4.0]), torch.tensor([0.3, 0.4])]
    a, b = _clipped_step("value", 1.0, grads)
    assert torch.allclose(a, torch.tensor([1.0, -1.0])) and torch.allclose(b, torch.tensor([0.3, 0.4]))
    a, b = _clipped_step("norm", 1.0, grads)  # each parameter's norm on its own: 5 -> 1, 0.5 stays
    assert torch.allclose(a, torch.tensor([0.6, -0.8]), atol=1e-5) and torch.allclose(b, torch.tensor([0.3, 0.4]))
    a, b = _clipped_step("full_model", 1.0, grads)  # global norm sqrt(25.25)
    scale = 1.0 / math.sqrt(25.25)
    assert torch.allclose(a, grads[0] * scale, atol=1e-5) and torch.allclose(b, grads[1] * scale, atol=1e-5)
    with pytest.raises(ValueError, match="CLIP_TYPE"):
        _clipped_step("sometimes", 1.0, grads)


def test_expand_param_groups_gives_each_parameter_the_union_of_its_groups():
    from modet.engine.solver.build import expand_param_groups

    groups = [
        {"params": ["a", "b"], "lr": 1.0, "weight_decay": 3.0},
        {"params": ["b", "c"], "lr": 2.0, "momentum": 0.5},
    ]
    assert expand_param_groups(groups) == [
        {"params": ["a"], "lr": 1.0, "weight_decay": 3.0},
        {"params": ["b"], "lr": 2.0, "weight_decay": 3.0, "momentum": 0.5},
        {"params": ["c"], "lr": 2.0, "momentum": 0.5},
    ]
