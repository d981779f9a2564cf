"""deploy/Dockerfile (SPEC R17.11): slim, multi-stage, non-root, a /readyz healthcheck, nothing
secret baked in, and a build context that carries exactly what the build reads.

No Docker engine runs on these machines, so the file is read, not built (docs/operations.md
says so); the build stage's commands are the ones `scripts/setup.sh` runs daily.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.dockerfile import (
    DOCKERFILE,
    DOCKERIGNORE,
    Instruction,
    Stage,
    ignored,
    image_env,
    parse,
    stages,
)
from tests.deploy.kit import DEPLOY, REPO, env_setting

_SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|ENCRYPTION_KEY|API_KEY|DATABASE__URL)", re.I)
_BUILD_TOOLS = ("build-essential", "gcc", "g++", "make", "clang", "libpq-dev", "python3-dev")


@pytest.fixture(scope="module")
def final() -> Stage:
    return stages(parse(DOCKERFILE.read_text()))[1][-1]


def test_two_stages_on_python_3_11_slim() -> None:
    _, all_stages = stages(parse(DOCKERFILE.read_text()))
    assert len(all_stages) == 2
    build, final = all_stages
    assert build.name == "build" and final.name is None
    for stage in all_stages:
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", stage.base), stage.base
    # The final stage gets the virtual environment from the build stage and nothing else.
    copies = final.all("COPY")
    assert [c.args for c in copies] == ["--from=build /opt/torouter /opt/torouter"]
    assert "python -m venv /opt/torouter" in " ".join(r.args for r in build.all("RUN"))


def test_final_stage_has_no_build_tools_and_no_pip(final: Stage) -> None:
    for run in final.all("RUN"):
        assert "pip" not in run.args, run.args
        for name in _BUILD_TOOLS:
            assert not re.search(rf"\b{re.escape(name)}\b", run.args), (name, run.args)
    # pip and setuptools are removed from the copied environment.
    (_, all_stages) = stages(parse(DOCKERFILE.read_text()))
    build_runs = " ".join(r.args for r in all_stages[0].all("RUN"))
    assert "pip uninstall --yes pip setuptools" in build_runs


def test_runs_as_a_fixed_non_root_user(final: Stage) -> None:
    users = final.all("USER")
    assert users, "the final stage must switch user"
    uid, _, gid = users[-1].args.partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit() and int(gid) >= 1000
    deployment = yaml.safe_load((DEPLOY / "kubernetes/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))
    # The data directory is created for that user, and USER comes after every RUN.
    runs = final.all("RUN")
    assert f"-o {uid} -g {gid} -m 0700 {image_env()['TOROUTER_DATA_DIR']}" in runs[0].args
    assert max(r.line for r in runs) < users[-1].line


def test_healthcheck_asks_readyz(final: Stage) -> None:
    (check,) = final.all("HEALTHCHECK")
    assert check.args.startswith("--interval=")
    command = check.args[check.args.index("CMD") + 3 :].strip()
    argv = Instruction("CMD", command, check.line).exec_form()
    assert argv is not None and argv[:2] == ["python", "-c"]
    assert "/readyz" in argv[2] and "TOROUTER_SERVER__PORT" in argv[2]
    compile(argv[2], "<healthcheck>", "exec")  # valid Python


def test_entrypoint_serves_on_every_interface(final: Stage) -> None:
    (entry,) = final.all("ENTRYPOINT")
    (cmd,) = final.all("CMD")
    assert entry.exec_form() == ["torouter"]
    assert cmd.exec_form() == ["serve"]
    env = image_env()
    assert env["TOROUTER_SERVER__HOST"] == "0.0.0.0"
    assert env["PATH"].startswith("/opt/torouter/bin:")
    (expose,) = final.all("EXPOSE")
    assert expose.args == env["TOROUTER_SERVER__PORT"] == "8080"
    for name in env:
        if name.startswith("TOROUTER_"):
            assert env_setting(name) is not None, name


def test_no_secret_is_baked_in() -> None:
    for ins in parse(DOCKERFILE.read_text()):
        if ins.keyword in ("ENV", "ARG", "LABEL"):
            for key in ins.pairs():
                assert not _SECRETISH.search(key), f"line {ins.line}: {key}"
        if ins.keyword in ("COPY", "ADD"):
            assert ".env" not in ins.args and "secret" not in ins.args.lower()


def test_build_context_holds_what_the_build_copies() -> None:
    rules = DOCKERIGNORE.read_text()
    _, all_stages = stages(parse(DOCKERFILE.read_text()))
    for copy in all_stages[0].all("COPY"):
        *sources, _dest = copy.args.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert not ignored(source, rules), source
    # Everything the package build reads: the package (with its data files) and the readme.
    for path in ("pyproject.toml", "README.md", "torouter/cli.py", "torouter/console/templates"):
        assert not ignored(path, rules), path
    for migration in (REPO / "torouter/storage/migrations/versions").glob("*.py"):
        assert not ignored(str(migration.relative_to(REPO)), rules)


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        ".venvs/openai1/bin/python",
        ".run/pg/PG_VERSION",
        "data/torouter.db",
        "data/encryption.key",
        "deploy/.env",
        "tests/conftest.py",
        "bench/results/final-session2.json",
        "torouter/__pycache__/cli.cpython-311.pyc",
        "torouter/storage/__pycache__/db.cpython-311.pyc",
    ],
)
def test_build_context_leaves_out_local_state_and_secrets(path: str) -> None:
    assert ignored(path, DOCKERIGNORE.read_text())


def test_dockerignore_matcher_follows_docker_rules() -> None:
    """The reader above is itself checked on Docker's documented cases."""
    assert ignored("a/b.txt", "a")
    assert not ignored("a/b.txt", "a\n!a/b.txt")
    assert ignored("x/y/z.md", "**/*.md")
    assert ignored("z.md", "**/*.md")
    assert not ignored("x/y.txt", "*.txt")  # `*` does not cross folders
    assert ignored("x/y.txt", "*/*.txt")
    assert not ignored("keep/me", "*\n!keep")


def test_image_docs_say_images_are_not_built_here() -> None:
    text = (Path(REPO) / "docs/operations.md").read_text()
    assert "Dockerfile" in text and "no Docker engine" in " ".join(text.split())
