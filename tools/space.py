"""What a Hugging Face Space gets from this repository, and the upload that sends it:

    python -m tools.space --list                        # the files, with sizes and how each is stored
    python -m tools.space --upload <user>/<space>       # needs a token: `hf auth login` or HF_TOKEN

Why an upload and not `git push`: the Hub refuses a push with a binary file over about 1 MB
that is not in LFS/Xet storage, and it checks every commit pushed, so the shipped weights
(and each earlier version of them in this repository's history) would be refused. An upload
over HTTP (`huggingface_hub.upload_folder`, which comes with gradio) sends only today's files,
as one commit on the Space; the Hub stores each binary file in its LFS/Xet storage itself.
The list below is the app and what it reads: no tests, tools, caches or local state.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# What the Space runs and shows: the entry point, its requirements, the README (the Space's
# front matter and card) with the docs and pictures it links to, the app, the weights.
INCLUDE = (
    "README.md",
    "LICENSE",
    "app.py",
    "requirements.txt",
    "docs/*.md",
    "docs/*.png",
    "demo/**",
    "mnistsum/**",
    "weights/**",
)
# Never sent, wherever they appear: caches, local state, generated stubs, half-written files.
EXCLUDE = ("__pycache__", "*.pyc", "*.pyi", "*.tmp", ".*", "runs", "checkpoints", "data")
# The Hub refuses binary files over this size unless they are stored in LFS/Xet, and any file over 10 MB.
BINARY_LIMIT = 1_000_000
TEXT_LIMIT = 10_000_000
# Stored in LFS/Xet on the Space (a new Space's .gitattributes already lists these).
LFS_PATTERNS = ("*.pt",)


def _included(rel: str) -> bool:
    parts = rel.split("/")
    if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in EXCLUDE):
        return False
    return any(rel == p or fnmatch.fnmatch(rel, p) or (p.endswith("/**") and rel.startswith(p[:-2])) for p in INCLUDE)


def space_files(root: Path = REPO_ROOT) -> list[str]:
    """The paths (relative, '/'-separated, sorted) that a Space upload sends."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not path.is_symlink() and _included(rel):
            found.append(rel)
    return sorted(found)


def is_binary(path: Path) -> bool:
    """Git's rule: a NUL byte in the first 8,000 bytes."""
    with path.open("rb") as f:
        return b"\0" in f.read(8000)


def is_lfs(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel.rsplit("/", 1)[-1], p) for p in LFS_PATTERNS)


def refusals(files: list[str], root: Path = REPO_ROOT) -> list[str]:
    """Why the Hub would refuse any of `files` outside LFS/Xet storage; empty when all pass."""
    problems = []
    for rel in files:
        path = root / rel
        size = path.stat().st_size
        if is_lfs(rel):
            continue
        if size > TEXT_LIMIT:
            problems.append(f"{rel}: {size:,} bytes, over the Hub's {TEXT_LIMIT:,} for a file outside LFS")
        elif size > BINARY_LIMIT and is_binary(path):
            problems.append(f"{rel}: a binary file of {size:,} bytes, over the Hub's {BINARY_LIMIT:,} outside LFS")
    return problems


def upload(repo_id: str, root: Path = REPO_ROOT) -> str:
    """Create the Space if needed and make its files exactly `space_files()`, in one commit."""
    from huggingface_hub import HfApi

    files = space_files(root)
    problems = refusals(files, root)
    if problems:
        raise ValueError("the Hub would refuse: " + "; ".join(problems))
    api = HfApi()
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        repo_type="space",
        folder_path=root,
        allow_patterns=files,
        delete_patterns=["*"],  # files a previous upload sent and this one does not (.gitattributes stays)
        commit_message="Upload mnistsum with tools/space.py",
    )
    return commit.commit_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="print the files a Space upload sends")
    action.add_argument("--upload", metavar="USER/SPACE", help="upload them to this Space (created if missing)")
    args = parser.parse_args(argv)
    if args.list:
        files = space_files()
        for rel in files:
            print(f"{(REPO_ROOT / rel).stat().st_size:>10,}  {'lfs ' if is_lfs(rel) else '    '}{rel}")
        total = sum((REPO_ROOT / rel).stat().st_size for rel in files)
        print(f"{len(files)} files, {total:,} bytes")
        for problem in refusals(files):
            print(f"refused: {problem}", file=sys.stderr)
        return 1 if refusals(files) else 0
    try:
        print(upload(args.upload))
    except ImportError:
        print(
            "error: the upload needs huggingface_hub (`pip install huggingface_hub`; gradio brings it)", file=sys.stderr
        )
        return 2
    except (OSError, ValueError) as err:  # no token, the Hub said no, a bad name, a file it would refuse
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
