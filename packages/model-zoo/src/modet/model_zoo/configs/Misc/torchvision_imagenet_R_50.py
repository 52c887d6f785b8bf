"""An ImageNet classifier (torchvision's ResNet-50 and ImageNet loader) trained by modet's engine.

It shows that the engine trains any model and data a LazyConfig describes. Set
``dataloader.train.dataset.root`` to the ImageNet folder. The model, loader and evaluator classes
are defined here to keep the example in one file; a project would import them instead.
"""

import torch
import torchvision
from omegaconf import OmegaConf
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.transforms import transforms as T

from modet.core.config import LazyCall as L
from modet.data.samplers import InferenceSampler, TrainingSampler
from modet.engine import comm
from modet.engine.solver import WarmupParamScheduler
from modet.engine.solver.build import get_default_optimizer_params
from modet.engine.solver.param_scheduler import MultiStepParamScheduler
from modet.evaluation import DatasetEvaluator
from modet.model_zoo import get_config


def build_data_loader(dataset, batch_size, num_workers, training=True):
    """Batches of (images, labels), sampled by modet's infinite (training) or sharded (test) samplers."""
    sampler = (TrainingSampler if training else InferenceSampler)(len(dataset))
    return torch.utils.data.DataLoader(
        dataset, sampler=sampler, batch_size=batch_size, num_workers=num_workers, pin_memory=True
    )


class ClassificationNet(nn.Module):
    """Wraps a classifier: the cross-entropy loss in training, the logits in evaluation."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @property
    def device(self):
        return next(self.model.parameters()).device

    def forward(self, inputs):
        image, label = inputs
        logits = self.model(image.to(self.device))
        if self.training:
            return F.cross_entropy(logits, label.to(self.device))
        return logits


class ClassificationAcc(DatasetEvaluator):
    """Top-1 accuracy over every process's share of the test set."""

    def reset(self):
        self.corr = self.total = 0

    def process(self, inputs, outputs):
        _, label = inputs
        self.corr += (outputs.argmax(dim=1).cpu() == label.cpu()).sum().item()
        self.total += len(label)

    def evaluate(self):
        counts = comm.all_gather([self.corr, self.total])
        return {"accuracy": sum(c for c, _ in counts) / sum(t for _, t in counts)}


imagenet_normalize = L(T.Normalize)(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

dataloader = OmegaConf.create()
dataloader.train = L(build_data_loader)(
    dataset=L(torchvision.datasets.ImageNet)(
        root="/path/to/imagenet",
        split="train",
        transform=L(T.Compose)(
            transforms=[
                L(T.RandomResizedCrop)(size=224),
                L(T.RandomHorizontalFlip)(),
                T.ToTensor(),
                imagenet_normalize,
            ]
        ),
    ),
    batch_size=256 // 8,
    num_workers=4,
    training=True,
)

dataloader.test = L(build_data_loader)(
    dataset=L(torchvision.datasets.ImageNet)(
        root="${...train.dataset.root}",
        split="val",
        transform=L(T.Compose)(
            transforms=[
                L(T.Resize)(size=256),
                L(T.CenterCrop)(size=224),
                T.ToTensor(),
                imagenet_normalize,
            ]
        ),
    ),
    batch_size=256 // 8,
    num_workers=4,
    training=False,
)

dataloader.evaluator = L(ClassificationAcc)()

# the torchvision ResNet is built when the config is loaded, as an object inside the config
model = L(ClassificationNet)(model=ResNet(block=Bottleneck, layers=[3, 4, 6, 3], zero_init_residual=True))

optimizer = L(torch.optim.SGD)(
    params=L(get_default_optimizer_params)(),
    lr=0.1,
    momentum=0.9,
    weight_decay=1e-4,
)

lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(values=[1.0, 0.1, 0.01, 0.001], milestones=[30, 60, 90, 100]),
    warmup_length=1 / 100,
    warmup_factor=0.1,
)

train = get_config("common/train.py").train
train.init_checkpoint = None
train.max_iter = 100 * 1281167 // 256
