import pickle

import pytest
import torch

import mnistsum.checkpoint as checkpoint
from mnistsum.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mnistsum.model import DualHeadNet


def outputs(model):
    torch.manual_seed(0)
    x, n = torch.rand(2, 1, 28, 28), torch.tensor([1, 8])
    with torch.no_grad():
        return model.eval()(x, n)


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    torch.manual_seed(1)
    model = DualHeadNet("exercise")
    save_checkpoint(tmp_path / "m.pt", model, {"note": "hello"})
    loaded, meta = load_checkpoint(tmp_path / "m.pt")
    assert meta["arch"] == "exercise" and meta["fusion"] == "add" and meta["note"] == "hello"
    assert {"torch", "torchvision", "mnistsum", "python"} <= set(meta["versions"]) and meta["created"]
    for a, b in zip(outputs(model), outputs(loaded)):
        assert torch.equal(a, b)


def test_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, DualHeadNet(), {"version": 1})
    before = path.read_bytes()

    def dies_halfway(obj, f):
        f.write(b"partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, DualHeadNet(), {"version": 2})
    assert path.read_bytes() == before
    assert load_checkpoint(path)[1]["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_file(tmp_path, content):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_truncated_file(tmp_path):
    save_checkpoint(tmp_path / "m.pt", DualHeadNet())
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "m.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "m.pt")


def test_foreign_torch_file(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an mnistsum checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


class Exploit:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


def test_pickled_code_is_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"format": checkpoint.FORMAT, "meta": Exploit()}, tmp_path / "evil.pt", pickle_module=pickle)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED").exists()
