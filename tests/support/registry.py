"""A real OCI registry for the image tests: Debian's docker-registry, on loopback only.

Plain HTTP, or TLS with a certificate of a CA the test makes and basic
authentication from an htpasswd file the test writes (bcrypt, as the
registry wants).  Each one has its own storage and is stopped at the end.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "gadgeteer"
PASSWORD = "s3cret-pw"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for localhost and 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "espia test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        # The lowest cost: the registry checks it on every request.
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


class Registry:
    """docker-registry on 127.0.0.1:<free port>; `host` is what image names start with."""

    def __init__(self, folder: Path, secure: bool) -> None:
        if shutil.which("docker-registry") is None:
            pytest.skip("not installed: docker-registry (bootstrap.sh --test installs it)")
        folder.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.host = f"localhost:{self.port}"
        self.secure = secure
        self.ca_file: Path | None = None
        lines = [
            "version: 0.1",
            "log: {level: warn}",
            "storage:",
            f"  filesystem: {{rootdirectory: {folder / 'data'}}}",
            "  delete: {enabled: true}",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        if secure:
            self.ca_file, cert, key = _certificates(folder)
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
            htpasswd = folder / "htpasswd"
            htpasswd.write_text(f"{USER}:{_bcrypt(PASSWORD)}\n")
            lines += ["auth:", "  htpasswd:", "    realm: espia-test", f"    path: {htpasswd}"]
        config = folder / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        self.log = open(folder / "registry.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait()

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.port}/v2/"

    def _wait(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {Path(self.log.name).read_text()}")
            with contextlib.suppress(requests.RequestException):
                requests.get(self.url, timeout=1, verify=str(self.ca_file or True))
                return
            time.sleep(0.1)
        raise RuntimeError("docker-registry did not answer in time")

    def flags(self) -> list[str]:
        """The espia flags that reach this registry."""
        if self.secure:
            return ["--ca-file", str(self.ca_file), "--username", USER]
        return ["--plain-http"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
