from modet.core.config import LazyCall, instantiate
from modet.core.config.testing import reload_lazy_config


class Point:
    def __init__(self, x: int, y: list[int]) -> None:
        self.x, self.y = x, y


def test_reload_lazy_config_round_trips_a_config():
    cfg = LazyCall(Point)(x=1, y=[2, 3])
    reloaded = reload_lazy_config(cfg)
    assert reloaded is not cfg and reloaded.x == 1
    point = instantiate(reloaded)
    assert isinstance(point, Point) and (point.x, list(point.y)) == (1, [2, 3])
