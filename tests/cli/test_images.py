"""Gadget images end to end: built, stored, exported, pushed to a real registry, pulled into
an empty store, verified, run; and every bad input refused in one line, leaving no image
half-written in the store.

The gadget is the guide's example (docs/writing-a-gadget.md).  The registries are
Debian's docker-registry on loopback: plain HTTP, and TLS with basic authentication.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.guide import write_guide_gadget
from support.registry import PASSWORD, Registry
from support.workloads import EspiaCli, unique

from espia.images import ARTIFACT_TYPE, CONFIG_TYPE, OBJECT_TYPE, SOURCE_TYPE, YAML_TYPE


def espia(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COSIGN_PASSWORD": "key-pw"}
    env.pop("ESPIA_IMAGE_KEY", None)
    if password is not None:
        env["ESPIA_REGISTRY_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "espia.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def ok(*args: str, password: str | None = None) -> str:
    done = espia(*args, password=password)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(code: int, *args: str, password: str | None = None) -> str:
    """The one line espia printed, refusing `args` with exit status `code`."""
    done = espia(*args, password=password)
    assert done.returncode == code, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def contents(store: Path) -> tuple[list[str], list[str]]:
    """(tags, blob names) of a store: what a failed command must not have changed."""
    index = store / "index.json"
    tags = [
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in (json.loads(index.read_text())["manifests"] if index.exists() else [])
    ]
    blobs = store / "blobs" / "sha256"
    return sorted(tags), sorted(p.name for p in blobs.iterdir()) if blobs.is_dir() else []


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="module")
def built(work: Path) -> Path:
    """A store holding the guide's gadget as mkdir:v1."""
    store = work / "built"
    ok(
        "image",
        "build",
        str(write_guide_gadget(work / "mkdir")),
        "-t",
        "mkdir:v1",
        "--store",
        str(store),
    )
    return store


@pytest.fixture(scope="module")
def keys(work: Path) -> tuple[Path, Path]:
    ok("image", "keygen", str(work / "signer"))
    ok("image", "keygen", str(work / "stranger"))
    return work / "signer.key", work / "signer.pub"


@pytest.fixture(scope="module", params=["plain", "tls+auth"])
def registry(request: pytest.FixtureRequest, work: Path) -> Iterator[Registry]:
    started = Registry(work / f"registry-{request.param}", secure=request.param != "plain")
    try:
        yield started
    finally:
        started.stop()


def test_build_stores_an_artifact_of_our_media_types(built: Path, work: Path):
    out = ok("image", "list", "--store", str(built)).splitlines()
    assert out[0].split() == ["NAME", "DIGEST", "SIZE"] and out[1].split()[0] == "mkdir:v1"
    shown = json.loads(ok("image", "inspect", "mkdir:v1", "--store", str(built)))
    manifest = shown["manifest"]
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_TYPE
    assert [
        (layer["mediaType"], layer["annotations"]["org.opencontainers.image.title"])
        for layer in manifest["layers"]
    ] == [
        (OBJECT_TYPE, "program.bpf.o"),
        (YAML_TYPE, "gadget.yaml"),
        (SOURCE_TYPE, "program.bpf.c"),
    ]
    assert manifest["layers"][0]["annotations"]["io.espia.gadget.arch"] == os.uname().machine
    assert shown["config"]["name"] == "mkdir"
    assert (work / "mkdir" / "program.bpf.c").read_bytes() == (
        built / "blobs" / "sha256" / manifest["layers"][2]["digest"].removeprefix("sha256:")
    ).read_bytes()
    raw = (built / "blobs" / "sha256" / shown["digest"].removeprefix("sha256:")).read_bytes()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == shown["digest"]


def test_tag_export_import_and_remove(built: Path, work: Path):
    digest = json.loads(ok("image", "inspect", "mkdir:v1", "--store", str(built)))["digest"]
    ok("image", "tag", "mkdir:v1", "mine/mkdir:latest", "--store", str(built))
    archive = work / "mkdir.tar"
    ok("image", "export", "mine/mkdir", str(archive), "--store", str(built))
    other = work / "imported"
    assert (
        ok("image", "import", str(archive), "--store", str(other)) == "imported mine/mkdir:latest\n"
    )
    assert (
        json.loads(ok("image", "inspect", "mine/mkdir", "--store", str(other)))["digest"] == digest
    )
    # Removing the last tag removes the blobs too.
    ok("image", "remove", "mine/mkdir:latest", "--store", str(other))
    assert contents(other) == ([], [])
    ok("image", "remove", "mine/mkdir:latest", "--store", str(built))
    assert contents(built)[0] == ["mkdir:v1"]
    line = refused(1, "image", "remove", "mine/mkdir:latest", "--store", str(built))
    assert line == f"espia: remove mine/mkdir:latest: no such image in {built}"


def _tampered_archive(source: Path, target: Path, change: str) -> None:
    """A copy of an exported image, its manifest or a blob changed as `change` says."""
    with tarfile.open(source) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    index = json.loads(files["index.json"])
    entry = index["manifests"][0]
    name = f"blobs/sha256/{entry['digest'].removeprefix('sha256:')}"
    manifest = json.loads(files[name])
    if change == "media type":
        manifest["artifactType"] = "application/vnd.example.other"
    if change in ("media type",):
        raw = json.dumps(manifest).encode()
        del files[name]
        entry["digest"] = "sha256:" + hashlib.sha256(raw).hexdigest()
        entry["size"] = len(raw)
        files[f"blobs/sha256/{entry['digest'].removeprefix('sha256:')}"] = raw
        files["index.json"] = json.dumps(index).encode()
    if change == "corrupt blob":
        layer = manifest["layers"][0]["digest"].removeprefix("sha256:")
        data = bytearray(files[f"blobs/sha256/{layer}"])
        data[100] ^= 0xFF
        files[f"blobs/sha256/{layer}"] = bytes(data)
    with tarfile.open(target, "w") as out:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("truncated", "import {file}: not a readable tar file"),
        (
            "media type",
            "espia: import {file}: mkdir:v1: not an espia gadget image (artifact type "
            "'application/vnd.example.other', expected application/vnd.espia.gadget.v1)",
        ),
        ("corrupt blob", "espia: image mkdir:v1: blob sha256:"),
    ],
)
def test_a_bad_archive_is_refused_and_nothing_is_stored(built: Path, work: Path, change, message):
    archive = work / "good.tar"
    ok("image", "export", "mkdir:v1", str(archive), "--store", str(built))
    bad = work / f"bad-{change.replace(' ', '-')}.tar"
    if change == "truncated":
        bad.write_bytes(archive.read_bytes()[: archive.stat().st_size // 3])
    else:
        _tampered_archive(archive, bad, change)
    store = work / f"store-{change.replace(' ', '-')}"
    line = refused(1, "image", "import", str(bad), "--store", str(store))
    assert message.format(file=bad) in line
    if change == "corrupt blob":
        assert line.endswith("is corrupt (its size or digest does not match the manifest)")
    assert contents(store) == ([], [])


def test_a_blob_changed_in_the_store_is_refused_when_run(built: Path, work: Path):
    store = work / "changed"
    archive = work / "changed.tar"
    ok("image", "export", "mkdir:v1", str(archive), "--store", str(built))
    ok("image", "import", str(archive), "--store", str(store))
    manifest = json.loads(ok("image", "inspect", "mkdir:v1", "--store", str(store)))["manifest"]
    blob = store / "blobs" / "sha256" / manifest["layers"][0]["digest"].removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    line = refused(1, "run", "mkdir:v1", "--store", str(store), "-t", "1")
    assert line == (
        f"espia: image mkdir:v1: blob {manifest['layers'][0]['digest']} is corrupt "
        "(its content has another digest)"
    )


def _name(registry: Registry, tag: str = "v1") -> str:
    return f"{registry.host}/gadgets/mkdir:{tag}"


def _password(registry: Registry) -> str | None:
    return PASSWORD if registry.secure else None


def _push_signed(registry: Registry, store: Path, key: Path) -> str:
    """Names the stored mkdir:v1 for `registry` and pushes it, signed with `key`."""
    name = _name(registry)
    ok("image", "tag", "mkdir:v1", name, "--store", str(store))
    flags = ("--sign-key", str(key), "--store", str(store), *registry.flags())
    return ok("image", "push", name, *flags, password=_password(registry))


def test_push_pull_verify_and_run_from_a_registry(
    registry: Registry, built: Path, keys, work: Path
):
    key, pub = keys
    name = _name(registry)
    flags, password = registry.flags(), _password(registry)
    out = _push_signed(registry, built, key)
    digest = json.loads(ok("image", "inspect", name, "--store", str(built)))["digest"]
    assert out == f"pushed {name} {digest}\n"
    empty = work / f"pulled-{registry.port}"
    out = ok(
        "image", "pull", name, "--key", str(pub), "--store", str(empty), *flags, password=password
    )
    assert out == f"pulled {name} {digest}\n"
    assert json.loads(ok("image", "inspect", name, "--store", str(empty)))["digest"] == digest
    # The signature it verified is kept beside it (for `kubectl espia run` to ship).
    assert contents(empty)[0] == sorted([name, f"{name.rsplit(':', 1)[0]}:{_sig_tag(digest)}"])
    # And `espia run NAME` into another empty store: pulled, verified, run.
    fresh = work / f"run-{registry.port}"
    tag = unique("/nonexistent/img")
    env_password = {"ESPIA_REGISTRY_PASSWORD": password} if password else {}
    cli = EspiaCli(
        [
            "run",
            name,
            "--store",
            str(fresh),
            "--key",
            str(pub),
            *flags,
            "-o",
            "json",
            "--failed-only",
            "-F",
            f"path:~{tag}",
        ],
        env=env_password,
    )
    cli.wait_ready(lambda: _mkdir(tag), tag, timeout=60)
    cli.proc.send_signal(2)
    code, _, err = cli.finish()
    assert code == 0, err
    event = cli.json_events()[0]
    assert (event["path"], event["err"], event["errname"], event["pid"]) == (
        tag,
        2,
        "ENOENT",
        os.getpid(),
    )
    assert contents(fresh)[0] == sorted([name, f"{name.rsplit(':', 1)[0]}:{_sig_tag(digest)}"])


def _sig_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def _mkdir(path: str) -> None:
    with contextlib.suppress(OSError):
        os.mkdir(path)


def test_bad_registry_inputs_are_refused_and_nothing_is_stored(
    registry: Registry, built: Path, keys, work: Path
):
    key, pub = keys
    flags, password = registry.flags(), _password(registry)
    store = work / f"refused-{registry.port}"
    name = _name(registry)
    _push_signed(registry, built, key)
    # Unsigned: pushed without a signature under another tag... its digest is the same, so
    # make a different image: the same gadget with another name in its config.
    unsigned = _name(registry, "unsigned")
    other = write_guide_gadget(work / f"other-{registry.port}")
    (other / "gadget.yaml").write_text(
        (other / "gadget.yaml").read_text().replace("name: mkdir", "name: mkdir2")
    )
    ok("image", "build", str(other), "-t", unsigned, "--store", str(built))
    ok("image", "push", unsigned, "--store", str(built), *flags, password=password)
    stranger = work / "stranger.pub"
    cases = [
        (
            ["image", "pull", unsigned, "--key", str(pub)],
            f"espia: pull {unsigned}: it is not signed (no sha256-",
        ),
        (
            ["image", "pull", name, "--key", str(stranger)],
            f"espia: pull {name}: bad signature: none of its signatures is by this key for sha256:",
        ),
        (
            ["image", "pull", _name(registry, "v9"), "--key", str(pub)],
            f"espia: pull {_name(registry, 'v9')}: tag v9 does not exist in the registry",
        ),
        (["image", "pull", name], f"espia: pull {name}: checking its signature needs a public key"),
        (
            [
                "image",
                "pull",
                f"localhost:{_closed_port()}/gadgets/mkdir:v1",
                "--verify-image=false",
            ],
            "is unreachable (Connection refused)",
        ),
    ]
    for args, message in cases:
        assert message in refused(1, *args, "--store", str(store), *flags, password=password)
        assert contents(store) == ([], [])
    if registry.secure:
        pull = ("image", "pull", name, "--key", str(pub), "--store", str(store))
        line = refused(1, *pull, "--ca-file", str(registry.ca_file))
        assert line == (
            f"espia: pull {name}: registry {registry.host} asks for credentials "
            "(--username, and the password in $ESPIA_REGISTRY_PASSWORD)"
        )
        line = refused(1, *pull, *flags, password="wrong")
        assert "the registry refused the credentials" in line
        line = refused(1, *pull, "--username", "gadgeteer", password=password)
        assert line.startswith(f"espia: pull {name}: TLS with {registry.host} failed")
        assert contents(store) == ([], [])
    # With the check off, the unsigned one comes in.
    ok(
        "image",
        "pull",
        unsigned,
        "--verify-image=false",
        "--store",
        str(store),
        *flags,
        password=password,
    )
    assert contents(store)[0] == [unsigned]


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_python_api_runs_a_stored_image(built: Path, monkeypatch, tmp_path):
    import espia

    monkeypatch.setenv("ESPIA_IMAGE_STORE", str(built))
    monkeypatch.chdir(tmp_path)  # no file called mkdir:v1 here
    tag = unique("/nonexistent/api")
    with espia.run("mkdir:v1", params={"failed_only": True}, filter=f"path:{tag}") as trace:
        _mkdir(tag)
        trace.stop()
        assert [(e.path, e.err, e.pid) for e in trace] == [(tag, 2, os.getpid())]
