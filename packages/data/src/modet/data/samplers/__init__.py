from .distributed_sampler import InferenceSampler, RepeatFactorTrainingSampler, TrainingSampler
from .grouped_batch_sampler import GroupedBatchSampler

__all__ = ["GroupedBatchSampler", "InferenceSampler", "RepeatFactorTrainingSampler", "TrainingSampler"]
