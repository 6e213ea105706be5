"""scripts/engine-up and scripts/engine-down against the real engines (podman as root, dockerd,
a one-node swarm with a loopback registry): each engine comes up in a temp directory, runs a
container from an image imported from a tarball (no registry but the loopback one), and
goes away leaving no daemon, mount, network link or directory behind."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDS = {"podman": ("podman", "runc"), "docker": ("dockerd", "docker"),
         "swarm": ("dockerd", "docker", "docker-registry")}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the engines here run as root")]


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    return {line.split(": ")[1].split("@")[0] for line in out.stdout.splitlines()}


def _engine_processes(directory: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", directory], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def _shell_image(tmp_path: Path) -> Path:
    """A rootfs tarball holding the host's dash and the libraries it loads."""
    dash = Path(shutil.which("dash") or "/bin/dash").resolve()
    ldd = subprocess.run(["ldd", str(dash)], capture_output=True, text=True, check=True)
    files = [dash] + [Path(part) for line in ldd.stdout.splitlines()
                      for part in line.split() if part.startswith("/")]
    tar_path = tmp_path / "shell.tar"
    with tarfile.open(tar_path, "w") as tar:
        for file in files:
            tar.add(file.resolve(), arcname=str(file).lstrip("/"))
        tar.add(dash, arcname="bin/sh")
    return tar_path


def _env_of(exports: str) -> dict[str, str]:
    env = dict(os.environ)
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0]
    return env


@pytest.mark.parametrize("engine", ["podman", "docker", "swarm"])
def test_engine_up_runs_a_container_and_engine_down_leaves_nothing(
        engine: str, tmp_path: Path) -> None:
    missing = [cmd for cmd in NEEDS[engine] if shutil.which(cmd) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/test installs them)")
    links_before = _links()
    up = subprocess.run([str(ROOT / "scripts/engine-up"), engine], capture_output=True,
                        text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    env = _env_of(up.stdout)
    directory = env["HIVETUI_ENGINE_DIR"]
    try:
        cli = ["podman"] if engine == "podman" else ["docker"]
        image = "localhost/hive-shell:1"
        subprocess.run([*cli, "import", str(_shell_image(tmp_path)), image], env=env,
                       check=True, capture_output=True, timeout=120)
        if engine == "swarm":  # a task pulls its image: from the loopback registry
            image_ref = f"{env['HIVETUI_REGISTRY']}/hive-shell:1"
            subprocess.run(["docker", "tag", image, image_ref], env=env, check=True)
            subprocess.run(["docker", "push", image_ref], env=env, check=True,
                           capture_output=True, timeout=120)
            made = subprocess.run(
                ["docker", "service", "create", "--detach", "--name", "probe",
                 "--restart-condition", "none", "--endpoint-mode", "dnsrr", image_ref,
                 "/bin/sh", "-c", "echo from-a-task; sleep 60"],
                env=env, capture_output=True, text=True, timeout=120)
            assert made.returncode == 0, made.stderr
            logs = ""
            for _ in range(300):
                logs = subprocess.run(["docker", "service", "logs", "--raw", "probe"],
                                      env=env, capture_output=True, text=True).stdout
                if "from-a-task" in logs:
                    break
                subprocess.run(["sleep", "0.2"])
            assert "from-a-task" in logs
        else:
            ran = subprocess.run([*cli, "run", "--rm", "--network", "none", image,
                                  "/bin/sh", "-c", "echo from-a-container"],
                                 env=env, capture_output=True, text=True, timeout=120)
            assert ran.stdout.strip() == "from-a-container", ran.stderr
    finally:
        down = subprocess.run([str(ROOT / "scripts/engine-down"), directory],
                              capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not Path(directory).exists()
    assert _engine_processes(directory) == []
    assert [line for line in Path("/proc/mounts").read_text().splitlines()
            if directory in line] == []
    assert _links() == links_before


def test_engine_up_refuses_an_unknown_engine() -> None:
    bad = subprocess.run([str(ROOT / "scripts/engine-up"), "kubernetes"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "usage: scripts/engine-up podman|docker|swarm (got 'kubernetes')" in bad.stderr
