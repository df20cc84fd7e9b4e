#!/usr/bin/env bash
# Sets up a Debian 12 host for espia: system packages, Python dependencies,
# and the gadgets built against this kernel.  Run as root from the source tree.
#
#   ./bootstrap.sh           what `espia` needs to run
#   ./bootstrap.sh --test    also what the tests need (container runtimes, DNS tools, and
#                            the throwaway Kubernetes cluster of cluster/, built here: Go
#                            1.24+ must be installed; the first build takes 10-30 minutes)
#   ./bootstrap.sh --bench   also what bench/ measures against (bpftrace, libbpf-tools, and
#                            Inspektor Gadget's ig, built from its Go module: bench/peers)
set -euo pipefail
cd "$(dirname "$0")"

# gcc, libc6-dev and python3-dev: pip compiles espia's C extension (setup.py).
packages=(clang llvm libbpf1 libbpf-dev bpftool make gcc libc6-dev python3-dev)
python_extra=""
cluster=""
peers=""
for arg in "$@"; do
  case "$arg" in
    --test)
      packages+=(containerd runc docker.io podman busybox-static iproute2 dnsmasq-base
                 bind9-dnsutils util-linux
                 containernetworking-plugins iptables openssl mmdebstrap gcc libc6-dev
                 python3-yaml prometheus chromium binutils zsh groff-base docker-registry)
      python_extra="[test]"
      cluster=1 ;;
    --bench)
      packages+=(bpftrace hyperfine dnsperf linux-perf containerd runc busybox-static
                 iproute2 dnsmasq-base bind9-dnsutils libbpf-tools gcc libc6-dev)
      python_extra="[test]"
      peers=1 ;;
    *) echo "bootstrap.sh: unknown option $arg (use --test or --bench)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "bootstrap.sh: run as root (it installs packages; espia loads eBPF programs)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${packages[@]}"
python3 -m pip install -q --root-user-action=ignore -e ".${python_extra}"
make -s
if [ -n "$cluster" ]; then
  # The cluster's Kubernetes and etcd are built from their Go modules (cluster/build).
  if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH="$PATH:/usr/local/go/bin"; fi
  make -s cluster-build
  # The krew plugin (PyInstaller, from the test extra) and krew itself, from its Go module.
  make -s krew
fi
if [ -n "$peers" ]; then
  if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH="$PATH:/usr/local/go/bin"; fi
  bench/peers/build-ig
fi
