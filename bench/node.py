"""The Node contenders' setup: npm packages in ``bench/.node/``, the original design staged.

``bench/node/package.json`` pins sharp and better-sqlite3; they are installed with npm
into ``bench/.node/`` (outside git) the first time. The original design's JavaScript is
taken unchanged from its sprint plan (``shared/origin/`` beside the repository) and
written to ``bench/.node/original/``, next to the stand-ins it assumes (logger, db, paths)
from ``bench/node/original-glue/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "node"
PREFIX = HERE / ".node"
APP = PREFIX / "original"
_FILE = re.compile(
    r"\*\*File\*\*: `([\w/.-]+\.js)`[^\n]*\n(?:[^\n]*\n)*?```javascript\n(.*?)```", re.S
)
# What the plan's Task 4 uses without defining or exporting it.
_PROCESSOR = "server/services/imageProcessor.js"
_HEAD = (
    "const log = require('../utils/logger2')('image-processor');\n"
    "const { getThumbnailPath, getPreviewPath } = require('./paths');\n"
)
_TAIL = "\nmodule.exports = { generateDerivatives };\n"


@dataclass(frozen=True)
class NodeSetup:
    node: str
    app: Path | None  # the staged original design, when its plan was found


def find_origin(start: Path) -> Path | None:
    """The sprint plan of the original design: ``shared/origin/*.txt`` beside a parent folder."""
    for folder in (start, *start.parents):
        plans = sorted((folder / "shared" / "origin").glob("*.txt"))
        if plans:
            return plans[0]
    return None


def ensure(repo: Path) -> tuple[NodeSetup | None, str]:
    """Install what the Node contenders need; (None, why) when they cannot run here."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "node and npm are not on the PATH"
    PREFIX.mkdir(exist_ok=True)
    wanted = (SCRIPTS / "package.json").read_text()
    manifest = PREFIX / "package.json"
    if not (PREFIX / "node_modules").is_dir() or manifest.read_text() != wanted:
        manifest.write_text(wanted)
        print("node: npm install into bench/.node/ (once; building better-sqlite3 takes minutes)")
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--omit=dev"],
            cwd=PREFIX,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            manifest.unlink()
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, "npm install failed: " + " / ".join(tail)
    plan = find_origin(repo)
    return NodeSetup(node, stage_original(plan) if plan else None), ""


def stage_original(plan: Path) -> Path | None:
    """Write the plan's JavaScript files, as written, into ``bench/.node/original/``."""
    files = dict(_FILE.findall(plan.read_text()))
    if _PROCESSOR not in files:
        return None
    shutil.rmtree(APP, ignore_errors=True)
    shutil.copytree(SCRIPTS / "original-glue", APP)
    for name, code in files.items():
        if name == _PROCESSOR:
            code = _HEAD + code + _TAIL
        target = APP / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    return APP
