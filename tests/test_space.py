"""What a Space upload sends (`tools/space.py`): the app and what it reads, nothing the Hub refuses. Offline."""

import subprocess
import sys

import pytest

from tools.space import BINARY_LIMIT, REPO_ROOT, is_lfs, refusals, space_files, upload


def test_the_upload_is_the_app_and_what_it_reads():
    files = space_files()
    needed = {"app.py", "requirements.txt", "README.md", "weights/mnistsum.pt", "demo/app.py", "demo/static/pad.js"}
    assert needed <= set(files), needed - set(files)
    assert any(f.startswith("mnistsum/jobs/") for f in files) and any(f.startswith("demo/examples/") for f in files)
    assert "docs/screenshot.png" in files  # the README shows it on the Space's card
    for rel in files:
        assert not rel.startswith(("tests/", "tools/", ".ci/", ".git", "runs/", "checkpoints/", "data/")), rel
        assert "__pycache__" not in rel and not rel.endswith((".pyc", ".pyi")), rel


def test_the_hub_would_accept_every_file():
    files = space_files()
    assert refusals(files) == []
    big = [rel for rel in files if (REPO_ROOT / rel).stat().st_size > BINARY_LIMIT]
    assert big and all(is_lfs(rel) for rel in big)  # the weights are over the limit, and go to LFS


def test_caches_and_oversized_binaries_are_caught(tmp_path):
    (tmp_path / "demo" / "__pycache__").mkdir(parents=True)
    (tmp_path / "demo" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "demo" / "app.py").write_text("print('hi')\n")
    (tmp_path / "demo" / "app.pyi").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "big.bin").write_bytes(b"\0" * (BINARY_LIMIT + 1))
    (tmp_path / "weights" / "big.pt").write_bytes(b"\0" * (BINARY_LIMIT + 1))
    (tmp_path / "weights" / "notes.json").write_text("x" * (BINARY_LIMIT + 1))  # text: under the Hub's 10 MB
    files = space_files(tmp_path)
    assert files == ["demo/app.py", "weights/big.bin", "weights/big.pt", "weights/notes.json"]
    problems = refusals(files, tmp_path)
    assert len(problems) == 1 and problems[0].startswith("weights/big.bin: a binary file")


def test_list_prints_every_file_and_exits_0():
    out = subprocess.run(
        [sys.executable, "-m", "tools.space", "--list"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "lfs weights/mnistsum.pt" in out and f"{len(space_files())} files" in out


@pytest.mark.slow
def test_the_uploaded_files_alone_build_the_app(tmp_path):
    for rel in space_files():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((REPO_ROOT / rel).read_bytes())
    code = "import app; print(type(app.demo).__name__, 'predict_json' in {f.api_name for f in app.demo.fns.values()})"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["Blocks", "True"]


def test_upload_sends_exactly_the_list_and_refuses_what_the_hub_would(tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return type("Commit", (), {"commit_url": "https://huggingface.co/spaces/ada/mnistsum/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert upload("ada/mnistsum").endswith("/commit/1")
    (_, repo_id, create), (_, sent) = calls
    assert repo_id == "ada/mnistsum" and create["repo_type"] == "space" and create["space_sdk"] == "gradio"
    assert sent["repo_id"] == "ada/mnistsum" and sent["repo_type"] == "space"
    assert sent["allow_patterns"] == space_files() and sent["delete_patterns"] == ["*"]

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "big.bin").write_bytes(b"\0" * (BINARY_LIMIT + 1))
    calls.clear()
    with pytest.raises(ValueError, match="big.bin"):
        upload("ada/mnistsum", tmp_path)
    assert calls == []  # nothing created, nothing sent
