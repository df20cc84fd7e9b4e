"""The krew plugin (`make krew`), installed by the real krew and run against the real cluster.

The plugin is the self-contained kubectl-espia (PyInstaller one-file): it is
installed with `kubectl krew install --manifest --archive` into a krew root
of the test's own, and run from an environment that has none of espia's
Python packages: no PYTHONPATH, a HOME and a working directory outside this
tree, a PATH with the cluster's kubectl, krew's bin and the system's only
(whose python3 cannot import espia, checked).  The version it reports comes
from the API server: espia is not deployed at this point of the suite.  The
krew root is the test's temporary directory (`krew uninstall` would want krew's
plugin index, which lives on the network).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from cluster.kube import BIN, KUBECONFIG, make
from espia._version import __version__

BUILD = Path(__file__).resolve().parents[2] / "build" / "krew"


def test_krew_installs_the_plugin_and_it_runs_without_espia_installed(cluster, tmp_path):
    output = make("krew", timeout=1800)
    archive, manifest = BUILD / "kubectl-espia-linux-amd64.tar.gz", BUILD / "espia.yaml"
    assert str(archive) in output and str(manifest) in output
    # The line make prints for krew itself (PyInstaller's warnings may come after it).
    (krew,) = (Path(line[6:]) for line in output.splitlines() if line.startswith("krew: "))
    assert krew.is_file(), output
    spec = yaml.safe_load(manifest.read_text())["spec"]
    assert spec["version"] == f"v{__version__}"
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "kubectl-krew").symlink_to(krew)
    root, home, work = tmp_path / "krew-root", tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    environment = {
        "PATH": f"{root / 'bin'}:{tools}:{BIN}:/usr/bin:/bin",
        "HOME": str(home),
        "KREW_ROOT": str(root),
        "KREW_NO_UPGRADE_CHECK": "1",
        "KUBECONFIG": str(KUBECONFIG),
    }

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(argv), capture_output=True, text=True, env=environment, cwd=work, timeout=300
        )

    python = run("/usr/bin/python3", "-c", "import espia")
    assert python.returncode == 1 and "No module named 'espia'" in python.stderr
    installed = run("kubectl", "krew", "install", f"--manifest={manifest}", f"--archive={archive}")
    assert installed.returncode == 0, installed.stderr
    assert "Installed plugin: espia" in installed.stdout + installed.stderr
    assert (root / "bin" / "kubectl-espia").is_symlink()
    listed = run("kubectl", "plugin", "list")
    assert str(root / "bin" / "kubectl-espia") in listed.stdout, listed.stdout + listed.stderr
    version = run("kubectl", "espia", "version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.splitlines() == [
        f"Client version: v{__version__}",
        "Server version: not installed",
    ]
    # A gadget's usage error comes from the bundled parser and gadget catalog.
    bad = run("kubectl", "espia", "trace", "nope")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
