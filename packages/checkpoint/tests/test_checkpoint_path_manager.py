import pytest
import torch
from iopath.common.file_io import PathHandler

from modet.checkpoint import file_io
from modet.checkpoint.path_manager import PathManager


def test_local_files_through_the_path_manager(tmp_path):
    folder = tmp_path / "a" / "b"
    PathManager.mkdirs(str(folder))
    with PathManager.open(str(folder / "x.txt"), "w") as f:
        f.write("hello")
    assert PathManager.isfile(str(folder / "x.txt")) and PathManager.isdir(str(folder))
    assert PathManager.exists(str(folder / "x.txt")) and not PathManager.exists(str(folder / "y.txt"))
    assert PathManager.ls(str(folder)) == ["x.txt"]
    assert PathManager.get_local_path(str(folder / "x.txt")) == str(folder / "x.txt")


def test_urls_use_modets_download_cache(tmp_path, monkeypatch):
    cached = tmp_path / "cached.pkl"
    cached.write_bytes(b"weights")
    seen = []

    def fake_download(url, *, cache_dir=None, progress=True):
        seen.append(url)
        return str(cached)

    monkeypatch.setattr(file_io, "download", fake_download)
    assert PathManager.get_local_path("detectron2://ImageNetPretrained/MSRA/R-50.pkl") == str(cached)
    with PathManager.open("https://example.org/w.pkl", "rb") as f:
        assert f.read() == b"weights"
    assert seen == [file_io.DETECTRON2_URL_PREFIX + "ImageNetPretrained/MSRA/R-50.pkl", "https://example.org/w.pkl"]
    with pytest.raises(ValueError, match="read-only"):
        PathManager.open("https://example.org/w.pkl", "w")


def test_users_register_their_own_handlers(tmp_path):
    class MemoryHandler(PathHandler):
        def _get_supported_prefixes(self):
            return ["mem://"]

        def _get_local_path(self, path, **kwargs):
            return str(tmp_path / path[len("mem://") :])

    PathManager.register_handler(MemoryHandler())
    assert PathManager.get_local_path("mem://file.bin") == str(tmp_path / "file.bin")


def test_checkpointer_loads_through_its_path_manager(tmp_path):
    from iopath.common.file_io import PathManager as IopathPathManager

    from modet.checkpoint import DetectionCheckpointer

    class StoreHandler(PathHandler):
        def _get_supported_prefixes(self):
            return ["store://"]

        def _get_local_path(self, path, **kwargs):
            return str(tmp_path / path[len("store://") :])

    model = torch.nn.Linear(2, 3)
    expected = {"weight": torch.rand(3, 2), "bias": torch.rand(3)}
    torch.save({"model": expected}, tmp_path / "w.pth")
    checkpointer = DetectionCheckpointer(model)
    assert checkpointer.path_manager is PathManager
    with pytest.raises(Exception, match="store://w.pth"):  # the default manager has no such handler
        checkpointer.load("store://w.pth")
    own_manager = IopathPathManager()
    own_manager.register_handler(StoreHandler())
    checkpointer.path_manager = own_manager
    checkpointer.load("store://w.pth?matching_heuristics=True")
    assert torch.equal(model.weight, expected["weight"]) and torch.equal(model.bias, expected["bias"])
