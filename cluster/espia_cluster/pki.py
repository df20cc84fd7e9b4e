"""The cluster's certificates, made locally with openssl, and the kubeconfigs that use them.

One CA signs everything.  Who is who follows Kubernetes' defaults: a client
certificate's CN is the user and its O the groups, so the bootstrap RBAC
bindings (system:kube-controller-manager, system:kube-scheduler,
system:node-proxier) and the Node authorizer (system:node:NAME in
system:nodes) apply with nothing added; the admin is in system:masters.
Kept across `down`: the names and addresses never change.
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

from espia_cluster import layout
from espia_cluster.proc import run

_DAYS = "3650"


def _key(path: Path) -> None:
    run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            str(path),
        ]
    )
    path.chmod(0o600)


def _ca() -> None:
    _key(layout.PKI / "ca.key")
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            "-key",
            str(layout.PKI / "ca.key"),
            "-subj",
            "/CN=espia-cluster-ca",
            "-days",
            _DAYS,
            "-out",
            str(layout.PKI / "ca.crt"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]
    )


def _certificate(
    name: str, cn: str, groups: tuple[str, ...] = (), server: list[str] | None = None
) -> None:
    """PKI/name.{crt,key}: a client certificate, or a serving one for the ``server`` SANs."""
    key, csr = layout.PKI / f"{name}.key", layout.PKI / f"{name}.csr"
    _key(key)
    subject = "/" + "/".join([*(f"O={group}" for group in groups), f"CN={cn}"])
    run(["openssl", "req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr)])
    usage = ["clientAuth"] if server is None else ["serverAuth", "clientAuth"]
    extensions = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={','.join(usage)}",
    ]
    if server:
        extensions.append("subjectAltName=" + ",".join(server))
    with tempfile.NamedTemporaryFile("w", suffix=".ext") as ext:
        ext.write("\n".join(extensions) + "\n")
        ext.flush()
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(layout.PKI / "ca.crt"),
                "-CAkey",
                str(layout.PKI / "ca.key"),
                "-set_serial",
                _serial(),
                "-days",
                _DAYS,
                "-extfile",
                ext.name,
                "-out",
                str(layout.PKI / f"{name}.crt"),
            ]
        )
    csr.unlink()


def _serial() -> str:
    return "0x" + run(["openssl", "rand", "-hex", "16"]).stdout.strip()


def kubeconfig(name: str, user: str) -> Path:
    """CONFIG/name.kubeconfig: the API server and PKI/name's certificate, embedded.

    Written as JSON, which is YAML: no YAML package needed here.
    """

    def embedded(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "espia",
                "cluster": {
                    "server": layout.API_SERVER,
                    "certificate-authority-data": embedded(layout.PKI / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": embedded(layout.PKI / f"{name}.crt"),
                    "client-key-data": embedded(layout.PKI / f"{name}.key"),
                },
            }
        ],
        "contexts": [{"name": "espia", "context": {"cluster": "espia", "user": user}}],
        "current-context": "espia",
    }
    layout.CONFIG.mkdir(parents=True, exist_ok=True)
    path = layout.CONFIG / f"{name}.kubeconfig"
    path.write_text(json.dumps(config, indent=1) + "\n")
    path.chmod(0o600)
    return path


def make() -> None:
    """Every certificate, key and kubeconfig, unless a previous `up` made them."""
    if (layout.PKI / "complete").exists():
        return
    layout.PKI.mkdir(parents=True, exist_ok=True)
    layout.PKI.chmod(0o700)
    _ca()
    node_ips = [f"IP:{node.ip}" for node in layout.NODES]
    api_names = [
        *(f"DNS:kubernetes{suffix}" for suffix in ("", ".default", ".default.svc")),
        "DNS:kubernetes.default.svc.cluster.local",
        "DNS:localhost",
        "IP:127.0.0.1",
        f"IP:{layout.SERVICE_IP}",
        *node_ips,
    ]
    _certificate("apiserver", "kube-apiserver", server=api_names)
    _certificate("apiserver-kubelet-client", "kube-apiserver-kubelet-client")
    _certificate("admin", "kubernetes-admin", ("system:masters",))
    _certificate("controller-manager", "system:kube-controller-manager")
    _certificate("scheduler", "system:kube-scheduler")
    _certificate("kube-proxy", "system:kube-proxy")
    for node in layout.NODES:
        user = f"system:node:{node.name}"
        _certificate(f"kubelet-{node.name}", user, ("system:nodes",))
        _certificate(
            f"kubelet-{node.name}-serving",
            node.name,
            server=[f"DNS:{node.name}", f"IP:{node.ip}", "IP:127.0.0.1"],
        )
        kubeconfig(f"kubelet-{node.name}", user)
    for name, user in (
        ("admin", "kubernetes-admin"),
        ("controller-manager", "system:kube-controller-manager"),
        ("scheduler", "system:kube-scheduler"),
        ("kube-proxy", "system:kube-proxy"),
    ):
        kubeconfig(name, user)
    run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            str(layout.PKI / "sa.key"),
        ]
    )
    run(
        [
            "openssl",
            "pkey",
            "-in",
            str(layout.PKI / "sa.key"),
            "-pubout",
            "-out",
            str(layout.PKI / "sa.pub"),
        ]
    )
    (layout.PKI / "complete").write_text("")
