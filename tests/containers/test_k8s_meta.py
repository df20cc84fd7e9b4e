"""Kubernetes identity from each runtime's spelling of labels and annotations (pure Python)."""

from __future__ import annotations

import os
import subprocess

from espia.containers.model import K8sMeta
from espia.containers.runtimes._k8s import k8s_meta, pod_labels
from espia.containers.runtimes._proc import GONE, every_process, process_ids

SANDBOX_LABELS = {
    "app": "api",
    "io.kubernetes.pod.name": "api-7d9",
    "io.kubernetes.pod.namespace": "prod",
    "io.kubernetes.pod.uid": "u-1",
    "io.cri-containerd.kind": "sandbox",
}


def test_not_in_a_pod_is_empty():
    assert k8s_meta({"maintainer": "me"}) == K8sMeta()


def test_crio_annotations():
    meta = {
        "io.kubernetes.pod.name": "api-7d9",
        "io.kubernetes.pod.namespace": "prod",
        "io.kubernetes.pod.uid": "u-1",
        "io.kubernetes.container.name": "api",
        "io.kubernetes.cri-o.ContainerType": "container",
        "io.kubernetes.cri-o.SandboxID": "sb1",
    }
    asked = []

    def labels_of(sandbox: str):
        asked.append(sandbox)
        return SANDBOX_LABELS

    assert k8s_meta(meta, labels_of) == K8sMeta("prod", "api-7d9", "api", "u-1", {"app": "api"})
    assert asked == ["sb1"]
    sandbox = {**meta, "io.kubernetes.cri-o.ContainerType": "sandbox"}
    assert k8s_meta(sandbox, labels_of).sandbox is True


def test_labels_win_over_annotations():
    meta = {"io.kubernetes.cri.sandbox-name": "from-annotation", "io.kubernetes.pod.name": "label"}
    assert k8s_meta(meta).pod == "label"


def test_pod_labels_drop_what_kubelet_and_runtime_add():
    assert pod_labels(SANDBOX_LABELS) == {"app": "api"}


def test_a_vanished_process_gives_zeros():
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: its pid names nothing now
    assert process_ids(child.pid) == GONE
    assert process_ids(0) == GONE


def test_own_process_ids():
    ids = process_ids(os.getpid())
    assert ids.pid == os.getpid()
    assert ids.mntns == os.stat("/proc/self/ns/mnt").st_ino
    assert ids.netns == os.stat("/proc/self/ns/net").st_ino


def test_every_process_includes_this_one():
    mine = [ids for ids in every_process() if ids.pid == os.getpid()]
    assert mine == [process_ids(os.getpid())]
    assert all(ids.mntns and ids.netns for ids in every_process())
