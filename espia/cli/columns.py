"""The local door's default columns: they depend on the gadget and the flags, never on
what happens to be running on the host.

- a gadget that names its columns (gadget.yaml ``columns:``) gets those;
- otherwise its events' container comes first: RUNTIME.CONTAINERNAME, and
  with a pod selector (-n, -A, -p, -l) K8S.NAMESPACE, K8S.POD and
  K8S.CONTAINER before it.  Events keyed by network namespace (DNS
  packets, sockets) belong to a pod, not to one of its containers: with a
  pod selector their container columns are K8S.NAMESPACE and K8S.POD;
- then the gadget's own fields that are not hidden.

K8S.NODE is for the cluster door, where events of several nodes merge.
"""

from __future__ import annotations

from espia.engine.wire import WireSchema


def default_columns(schema: WireSchema, pods: bool) -> list[str]:
    """The columns `-o columns` shows for `schema` (`pods`: a pod selector was given)."""
    if schema.columns:
        return list(schema.columns)
    columns = []
    if schema.join is not None:
        per_pod = schema.join == "netns"
        if pods:
            columns += ["k8s.namespace", "k8s.pod"] + ([] if per_pod else ["k8s.container"])
        if not (pods and per_pod):
            columns.append("runtime.containerName")
    own = [f.name for f in schema.fields if not f.hidden and not f.container]
    return columns + own
