"""`kubectl espia` where no cluster is needed: the manifests, and every way of not having one.

The manifests are checked against this Kubernetes version's own schemas
(kubernetes-validate, strict: an unknown field is an error); the cluster
tests deploy the same objects for real.
"""

from __future__ import annotations

import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from espia._version import __version__

KUBERNETES = "1.34.0"  # the version the test cluster is built from


def kubectl_espia(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "espia.kubectl.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def manifests(*args: str) -> list[dict]:
    result = kubectl_espia("deploy", "--print-only", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return list(yaml.safe_load_all(result.stdout))


def daemonset(items: list[dict]) -> dict:
    (found,) = [i for i in items if i["kind"] == "DaemonSet"]
    return found


def test_print_only_is_valid_against_kubernetes_schemas():
    items = manifests()
    assert [i["kind"] for i in items] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "DaemonSet",
    ]
    for item in items:
        kubernetes_validate.validate(item, KUBERNETES, strict=True)
        assert item["metadata"]["labels"]["app.kubernetes.io/name"] == "espia"


def test_the_agent_pod_asks_for_what_ebpf_needs_and_no_more():
    pod = daemonset(manifests())["spec"]["template"]["spec"]
    (agent,) = pod["containers"]
    security = agent["securityContext"]
    assert security["privileged"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert set(security["capabilities"]["add"]) == {
        "BPF",
        "PERFMON",
        "NET_ADMIN",
        "SYS_PTRACE",
        "DAC_READ_SEARCH",
    }
    assert pod["hostPID"] is True and "hostNetwork" not in pod
    assert pod["automountServiceAccountToken"] is False
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in (
        agent["env"]
    )
    health = ["espia", "agent", "--health", "--listen", "127.0.0.1:7450"]
    assert agent["readinessProbe"]["exec"]["command"] == health
    assert agent["livenessProbe"]["exec"]["command"] == health
    assert agent["args"][:3] == ["agent", "--listen", "127.0.0.1:7450"]
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert agent["resources"]["limits"] and agent["resources"]["requests"]
    mounts = {m["mountPath"]: m for m in agent["volumeMounts"]}
    assert mounts["/sys/kernel/tracing"]["readOnly"] and mounts["/sys/fs/cgroup"]["readOnly"]
    # Without --runtime-socket the agent asks its kubelet: no host path for a socket.
    assert agent["args"][3:] == ["--runtime-from-kubelet"]
    assert "/host/runtime" not in mounts
    assert not [v for v in pod["volumes"] if v["name"] == "runtime"]


def test_the_agents_role_grants_nothing_and_says_why():
    result = kubectl_espia("deploy", "--print-only")
    role = next(i for i in yaml.safe_load_all(result.stdout) if i["kind"] == "ClusterRole")
    assert role["rules"] == []
    assert "# No rules: the agent never calls the API server." in result.stdout


def test_deploy_options_shape_the_objects():
    items = manifests(
        "--namespace",
        "ops-espia",
        "--image",
        "localhost/espia:test",
        "--image-pull-policy",
        "Never",
        "--node-selector",
        "kubernetes.io/os=linux,pool=a",
        "--runtime-socket",
        "/var/lib/nodes/$(NODE_NAME)/containerd.sock",
    )
    for item in items:
        kubernetes_validate.validate(item, KUBERNETES, strict=True)
    assert items[0]["metadata"]["name"] == "ops-espia"
    assert all(
        i["metadata"].get("namespace", "ops-espia") == "ops-espia"
        for i in items
        if i["kind"] != "Namespace"
    )
    binding = next(i for i in items if i["kind"] == "ClusterRoleBinding")
    assert binding["subjects"][0]["namespace"] == "ops-espia"
    pod = daemonset(items)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "a"}
    (agent,) = pod["containers"]
    assert agent["image"] == "localhost/espia:test" and agent["imagePullPolicy"] == "Never"
    runtime = next(v for v in pod["volumes"] if v["name"] == "runtime")
    assert runtime["hostPath"]["path"] == "/var/lib/nodes"
    mount = next(m for m in agent["volumeMounts"] if m["name"] == "runtime")
    assert mount["subPathExpr"] == "$(NODE_NAME)"
    assert "containerd=/host/runtime/containerd.sock" in agent["args"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--image-pull-policy", "Sometimes"], "--image-pull-policy 'Sometimes'"),
        (["--node-selector", "nolabel"], "--node-selector 'nolabel'"),
        (["--runtime-socket", "relative.sock"], "must be an absolute path"),
    ],
)
def test_bad_deploy_options_are_one_line(args, words):
    result = kubectl_espia("deploy", "--print-only", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and words in result.stderr


def unreachable_kubeconfig(tmp_path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return str(path)


def test_version_without_a_reachable_cluster(tmp_path):
    result = kubectl_espia("version", env={"KUBECONFIG": unreachable_kubeconfig(tmp_path)})
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"Client version: v{__version__}",
        "Server version: unknown",
    ]
    assert result.stderr.count("\n") == 1
    assert "https://127.0.0.1:1 does not answer" in result.stderr


@pytest.mark.parametrize(
    "command", [["version"], ["trace", "open"], ["deploy"], ["undeploy"]], ids=" ".join
)
def test_no_kubeconfig_is_one_line(tmp_path, command):
    result = kubectl_espia(
        *command, env={"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("espia: no cluster to talk to")


def test_a_gadget_against_an_unreachable_cluster_is_one_line(tmp_path):
    result = kubectl_espia(
        "trace", "exec", "--kubeconfig", unreachable_kubeconfig(tmp_path), "-t", "1"
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "does not answer" in result.stderr


def test_local_door_only_flags_are_refused(tmp_path):
    result = kubectl_espia(
        "trace", "exec", "--kubeconfig", unreachable_kubeconfig(tmp_path), "--host"
    )
    assert result.returncode == 2
    assert "--host is for the local door" in result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["trace", "signal", "-s", "SIGNOPE"], "parameter signal: "),
        (["top", "file", "--param", "nope=1"], "top file has no parameter 'nope'"),
        (["profile", "cpu", "--frequency", "5000"], "--frequency 5000: must be 1 to 1000"),
        (["trace", "open", "-m", "-1"], "-1 is negative"),
        (["trace", "open", "-T", "--timestamp", "iso"], "-T is --timestamp relative"),
        (["trace", "open", "--ready"], "--ready is for json and yaml"),
    ],
    ids=["param-value", "param-name", "option", "max-events", "timestamps", "ready"],
)
def test_bad_gadget_values_are_one_line_before_the_cluster_is_asked(tmp_path, args, words):
    # The API server does not answer: a usage error is said before anything asks it.
    result = kubectl_espia(*args, "--kubeconfig", unreachable_kubeconfig(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr


def test_deploy_metrics_opts_the_agents_into_serving_them():
    items = manifests("--metrics", "dns,tcp")
    for item in items:
        kubernetes_validate.validate(item, KUBERNETES, strict=True)
    template = daemonset(items)["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert container["args"][-4:] == ["--metrics", "dns,tcp", "--metrics-listen", "0.0.0.0:9464"]
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
    annotations = template["metadata"]["annotations"]
    assert {k: v for k, v in annotations.items() if k.startswith("prometheus.io/")} == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9464",
        "prometheus.io/path": "/metrics",
    }
    # Without --metrics, nothing of it.
    (plain,) = daemonset(manifests())["spec"]["template"]["spec"]["containers"]
    assert "--metrics" not in plain["args"] and len(plain["ports"]) == 1
    bad = kubectl_espia("deploy", "--print-only", "--metrics", "dns,nope")
    assert bad.returncode == 2
    assert bad.stderr == "espia: --metrics 'dns,nope': metric sets are dns, tcp (comma-separated)\n"
