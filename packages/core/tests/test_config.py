import textwrap

import pytest

from modet.core.config import CfgNode, ConfigError, UnsafeExpressionError, configurable, restricted_eval, section


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def defaults():
    cfg = CfgNode()
    cfg.MODEL = CfgNode()
    cfg.MODEL.DEPTH = 50
    cfg.MODEL.SIZES = ((32, 64),)
    cfg.MODEL.NAME = "base"
    cfg.INPUT = CfgNode()
    cfg.INPUT.MIN_SIZE_TRAIN = (800,)
    cfg.VERSION = 2
    return cfg


def test_base_chain_is_merged_child_last(tmp_path, defaults):
    write(tmp_path / "Base.yaml", "MODEL:\n  DEPTH: 101\n  NAME: from-base\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "mid.yaml", "_BASE_: ../Base.yaml\nMODEL:\n  NAME: from-mid\n")
    child = write(tmp_path / "sub" / "child.yaml", "_BASE_: mid.yaml\nINPUT:\n  MIN_SIZE_TRAIN: (640, 672)\n")
    defaults.merge_from_file(str(child))
    assert defaults.MODEL.DEPTH == 101
    assert defaults.MODEL.NAME == "from-mid"
    assert defaults.INPUT.MIN_SIZE_TRAIN == (640, 672)


def test_unknown_key_in_known_section_is_an_error(tmp_path, defaults):
    path = write(tmp_path / "bad.yaml", "MODEL:\n  DEPHT: 101\n")
    with pytest.raises(KeyError, match="MODEL.DEPHT"):
        defaults.merge_from_file(path)


def test_section_of_an_uninstalled_package_is_carried(tmp_path, defaults):
    path = write(tmp_path / "c.yaml", "SOLVER:\n  BASE_LR: 0.02\n  STEPS: (1, 2)\n")
    defaults.merge_from_file(path)
    assert defaults.SOLVER.BASE_LR == 0.02
    assert defaults.SOLVER.STEPS == (1, 2)


def test_eval_tag_of_detectron2_retinanet_is_evaluated_safely(tmp_path, defaults):
    path = write(
        tmp_path / "r.yaml",
        """
        MODEL:
          SIZES: !!python/object/apply:eval ["[[x, x * 2**(1.0/3), x * 2**(2.0/3) ] for x in [32, 64]]"]
        """,
    )
    defaults.merge_from_file(path)
    assert [list(x) for x in defaults.MODEL.SIZES] == [
        [32, 32 * 2 ** (1 / 3), 32 * 2 ** (2 / 3)],
        [64, 64 * 2 ** (1 / 3), 64 * 2 ** (2 / 3)],
    ]


def test_other_python_tags_are_refused_with_the_file_named(tmp_path, defaults, capfd):
    path = write(tmp_path / "evil.yaml", 'MODEL:\n  NAME: !!python/object/apply:os.system ["echo pwned"]\n')
    with pytest.raises(ConfigError, match="evil.yaml"):
        defaults.merge_from_file(path)
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize(
    "source",
    ["__import__('os').system('true')", "open('/etc/passwd')", "[x for x in range(3)]", "(1).__class__", "'a' * 10**9"],
)
def test_restricted_eval_refuses_anything_but_arithmetic(source):
    with pytest.raises(UnsafeExpressionError):
        restricted_eval(source)


def test_restricted_eval_arithmetic_and_nested_comprehensions():
    assert restricted_eval("[x * y for x in [1, 2] for y in (10, 100)]") == [10, 100, 20, 200]
    assert restricted_eval("-(2 ** 3) // 3 + 7 % 4") == -3 + 3
    assert restricted_eval("(1.5, [2, 'a'])") == (1.5, [2, "a"])


def test_missing_file_is_named(tmp_path, defaults):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        defaults.merge_from_file(tmp_path / "nope.yaml")


def test_config_version_newer_than_the_defaults_is_refused(tmp_path, defaults):
    path = write(tmp_path / "v3.yaml", "VERSION: 3\n")
    with pytest.raises(ConfigError, match="VERSION 3"):
        defaults.merge_from_file(path)


def test_merge_from_list_freeze_clone_and_dump_round_trip(defaults):
    defaults.merge_from_list(["MODEL.DEPTH", "18", "INPUT.MIN_SIZE_TRAIN", "(512,)"])
    assert defaults.MODEL.DEPTH == 18 and defaults.INPUT.MIN_SIZE_TRAIN == (512,)
    with pytest.raises(KeyError, match="Non-existent config key: MODEL.WIDTH"):
        defaults.merge_from_list(["MODEL.WIDTH", "3"])
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        defaults.merge_from_list(["MODEL.DEPTH"])
    copy = defaults.clone()
    defaults.freeze()
    with pytest.raises(AttributeError):
        defaults.MODEL.DEPTH = 3
    copy.MODEL.DEPTH = 3
    assert defaults.MODEL.DEPTH == 18
    reloaded = CfgNode.load_cfg(copy.dump())
    assert reloaded.MODEL.DEPTH == 3
    assert list(reloaded.INPUT.MIN_SIZE_TRAIN) == [512]
    assert copy.dump().index("INPUT") < copy.dump().index("MODEL")


def test_section_creates_missing_nodes_once():
    cfg = CfgNode()
    section(cfg, "MODEL.RPN").NMS_THRESH = 0.7
    section(cfg, "MODEL.RPN").TOPK = 5
    assert cfg.MODEL.RPN == {"NMS_THRESH": 0.7, "TOPK": 5}


def test_computed_keys_cannot_change():
    cfg = CfgNode()
    cfg.COMPUTED_SIZE = 3
    cfg.COMPUTED_SIZE = 3
    with pytest.raises(KeyError, match="COMPUTED_SIZE"):
        cfg.COMPUTED_SIZE = 4


class Head:
    @configurable
    def __init__(self, *, width: int, depth: int = 2):
        self.width, self.depth = width, depth

    @classmethod
    def from_config(cls, cfg, depth=None):
        return {"width": cfg.MODEL.DEPTH, "depth": depth if depth is not None else 4}


def test_configurable_class_from_config_and_plain_args(defaults):
    head = Head(defaults)
    assert (head.width, head.depth) == (50, 4)
    head = Head(defaults, depth=9)
    assert (head.width, head.depth) == (50, 9)
    head = Head(cfg=defaults)
    assert head.width == 50
    head = Head(width=3)
    assert (head.width, head.depth) == (3, 2)


def _fn_from_config(cfg, scale=1):
    return {"a": cfg.MODEL.DEPTH * scale}


@configurable(from_config=_fn_from_config)
def make(a, b=0):
    return a + b


def test_configurable_function(defaults):
    assert make(defaults) == 50
    assert make(defaults, scale=2, b=1) == 101
    assert make(5, b=1) == 6


def test_configurable_requires_from_config_classmethod():
    class NoFromConfig:
        @configurable
        def __init__(self, x=1):
            self.x = x

    with pytest.raises(AttributeError, match="from_config"):
        NoFromConfig(CfgNode())
