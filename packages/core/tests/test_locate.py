import json
import sys
import textwrap

import pytest

from modet.core.registry import _convert_target_to_string, convert_target_to_string, locate


class Outer:
    class Inner:
        pass


@pytest.mark.parametrize("obj", [Outer.Inner, len, dict, json.JSONDecoder, convert_target_to_string])
def test_name_and_locate_are_inverse(obj):
    assert locate(convert_target_to_string(obj)) is obj


def test_nested_class_is_named_by_qualname():
    assert convert_target_to_string(Outer.Inner).endswith("test_locate.Outer.Inner")


def test_shortest_public_path_is_preferred():
    # json.decoder.JSONDecoder is re-exported by json
    assert convert_target_to_string(json.JSONDecoder) == "json.JSONDecoder"
    assert convert_target_to_string(len) == "builtins.len"
    assert _convert_target_to_string is convert_target_to_string


def test_submodules_are_imported_part_by_part(tmp_path, monkeypatch):
    package = tmp_path / "modet_test_pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "impl.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    thing = locate("modet_test_pkg.sub.impl.Thing")  # neither package imports impl
    assert thing is sys.modules["modet_test_pkg.sub.impl"].Thing
    assert convert_target_to_string(thing) == "modet_test_pkg.sub.impl.Thing"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("asdf_no_such_module", "no module 'asdf_no_such_module'"),
        ("json.no_such_name", "'json' has no attribute or submodule 'no_such_name'"),
        ("json..loads", "dotted name"),
        ("", "dotted name"),
    ],
)
def test_unknown_names_raise_import_error_naming_them(name, message):
    with pytest.raises(ImportError, match=message):
        locate(name)


def test_import_errors_inside_a_module_are_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "modet_test_broken_module.py").write_text(
        textwrap.dedent(
            """
            import modet_test_dependency_that_is_missing
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="modet_test_dependency_that_is_missing"):
        locate("modet_test_broken_module.thing")
