"""The cluster suites' fixtures: one real two-node cluster per session, through `make cluster`.

`make cluster` reuses a healthy cluster, so a developer's running one is
kept; the session ends with `make cluster-down` either way (the suite's last
test checks that it leaves nothing).  KUBECONFIG is exported, and the
cluster's own kubectl (the same version as the server) goes first on PATH.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from support.workloads import unique

from cluster.kube import BIN, KUBECONFIG, has_default_account, make, wait_for


@pytest.fixture(scope="session")
def cluster() -> Iterator[Path]:
    """The admin kubeconfig of a running cluster (stopped at the end of the session)."""
    output = make("cluster", timeout=3600)
    assert str(KUBECONFIG) in output
    os.environ["KUBECONFIG"] = str(KUBECONFIG)
    os.environ["PATH"] = f"{BIN}:{os.environ['PATH']}"
    try:
        yield KUBECONFIG
    finally:
        make("cluster-down", timeout=600)


@pytest.fixture(scope="session")
def core(cluster: Path) -> client.CoreV1Api:
    config.load_kube_config(config_file=str(cluster))
    return client.CoreV1Api()


@pytest.fixture(scope="session")
def apps(core: client.CoreV1Api) -> client.AppsV1Api:
    return client.AppsV1Api()


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards with everything in it."""
    name = unique("espia-test")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods are refused until the service-account controller has made `default`.
    wait_for(lambda: has_default_account(core, name), "the default service account", 30)
    try:
        yield name
    finally:
        core.delete_namespace(name, grace_period_seconds=1)
