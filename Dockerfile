# The espia agent image: `docker build -t espia .` (or `podman build -t espia .`).
#
# Two stages, so that the compilers stay out of the image that runs: the build
# stage compiles the gadgets (clang, bpftool, this kernel's BTF for vmlinux.h;
# CO-RE objects then run on other kernels) and espia's C extension (gcc and
# Python's headers), and installs espia into a venv; the runtime stage gets
# that venv, Python and libbpf, nothing else.
#
# The image runs as root, on purpose: loading eBPF programs needs CAP_BPF,
# CAP_PERFMON and CAP_SYS_ADMIN, and naming containers needs the host's /proc
# and the runtimes' sockets, so the agent runs privileged with hostPID.  A
# non-root user cannot hold those capabilities through Kubernetes (no ambient
# capabilities for a non-root container).
#
# BASE is any Debian 12 image; the default is the official one.  Where no
# registry is reachable, pass one made locally (cluster/ does that with
# mmdebstrap: --build-arg BASE=localhost/espia-debian:12).
ARG BASE=debian:12-slim

FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool make \
        gcc libc6-dev python3 python3-dev python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/espia
WORKDIR /src
COPY pyproject.toml setup.py README.md Makefile ./
COPY espia espia
# Dependencies and espia first, so the gadgets are built with the venv's Python;
# then espia again, now with the objects, which pyproject ships as package data.
RUN /opt/espia/bin/pip install --no-cache-dir . \
 && make -s PYTHON=/opt/espia/bin/python \
 && /opt/espia/bin/pip install --no-cache-dir --no-deps --force-reinstall . \
 && /opt/espia/bin/python -c 'import espia.output._jsonfmt' \
 && test -n "$(find /opt/espia -name program.bpf.o)"

FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libbpf1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/espia /opt/espia
ENV PATH=/opt/espia/bin:$PATH
ENTRYPOINT ["espia"]
# `espia agent` (the node daemon) is the command the DaemonSet will run.
CMD ["version"]
