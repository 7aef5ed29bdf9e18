"""The file store keeps key material (OSCORE Master Secrets of objects 21 and
11000): under CPython its files are 0o600 and the directories it makes 0o700,
whatever the umask (MicroPython's unix port has no chmod: see lwm2m.store)."""
import os
import stat
import pytest
from lwm2m.store import FileStore

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_and_new_directories_are_private(tmp_path, open_umask):
    d = tmp_path / "state" / "node-1"
    s = FileStore(str(d))
    s.save("obj.21", {"0": {"2": "000102030405060708090a0b0c0d0e0f"}})
    s.save("obj.21", {"0": {"2": "0f0e0d0c0b0a09080706050403020100"}})
    assert _mode(d) == 0o700 and _mode(d.parent) == 0o700
    assert _mode(d / "obj.21.json") == 0o600
    assert sorted(os.listdir(d)) == ["obj.21.json"]


def test_a_file_left_by_an_interrupted_save_is_made_private(tmp_path, open_umask):
    s = FileStore(str(tmp_path))
    (tmp_path / "obj.0.json.tmp").write_text("{}")
    os.chmod(tmp_path / "obj.0.json.tmp", 0o644)
    s.save("obj.0", {"0": {}})
    assert _mode(tmp_path / "obj.0.json") == 0o600
    assert s.load("obj.0") == {"0": {}}
