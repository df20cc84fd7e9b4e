"""A real two-node Kubernetes cluster on this machine, for espia's tests and for trying espia.

Everything is built from published sources (Kubernetes and etcd from their Go
modules, images from Debian's packages) and runs from one state folder, so
that `down` can prove it left nothing behind:

    build     binaries (build.py) and images (images.py), skipped when current
    up        network (network.py), PKI (pki.py), control plane and nodes (cluster.py)
    down      the reverse, forcibly: it also cleans what a killed run left
    status    one line per part; exit 0 only when every part is healthy
    import    an image tar into every node's containerd

Run as root: ``python3 -m espia_cluster up`` from the cluster/ folder (the
Makefile's ``cluster`` and ``cluster-down`` targets do that).
"""
