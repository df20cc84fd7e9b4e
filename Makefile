# Builds the built-in gadgets: each espia/gadgets/*/program.bpf.c into its
# program.bpf.o, against a vmlinux.h generated from the running kernel.
PYTHON ?= python3
HEADERS := $(wildcard espia/gadgets/include/espia/*.h)
SOURCES := $(shell find espia -name program.bpf.c)
OBJECTS := $(SOURCES:.c=.o)
# Beside each object, the types of this kernel's BTF its CO-RE relocations need, named
# after the kernel BTF's digest (espia/ebpf/core_btf.py says why and when it is used).
KERNEL_BTF := /sys/kernel/btf/vmlinux
KERNEL_BTF_DIGEST := $(shell $(PYTHON) -m espia.ebpf.core_btf 2>/dev/null)
CORE_BTFS := $(if $(KERNEL_BTF_DIGEST),$(OBJECTS:.bpf.o=.bpf.core-$(KERNEL_BTF_DIGEST).btf))
# Beside each gadget.yaml, its parsed twin, so that a start needs no YAML parser
# (espia/gadget/description.py says why and when it is used).
DESCRIPTIONS := $(shell find espia -name gadget.yaml)
PARSED := $(DESCRIPTIONS:=.json)

# The C extension (the JSON line renderer, setup.py), built in place as pip builds it.
EXTENSION := espia/output/_jsonfmt$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')

.PHONY: all bytecode clean cluster cluster-build cluster-down cluster-status krew man
all: $(OBJECTS) $(CORE_BTFS) $(PARSED) $(EXTENSION) bytecode

$(EXTENSION): espia/output/_jsonfmt.c
	$(PYTHON) setup.py -q build_ext --inplace

# The package byte-compiled, as pip does for a package it installs: an editable
# install under PYTHONDONTWRITEBYTECODE would otherwise compile every module
# at every start (a third of espia's start-up).  Python still checks each
# .pyc against its source, so an edit made since is never run stale.
bytecode:
	$(PYTHON) -m compileall -q espia

%.bpf.o: %.bpf.c $(HEADERS)
	$(PYTHON) -m espia.ebpf.compile --vmlinux-dir build $<

%.bpf.core-$(KERNEL_BTF_DIGEST).btf: %.bpf.o
	bpftool gen min_core_btf $(KERNEL_BTF) $@ $<

%/gadget.yaml.json: %/gadget.yaml
	$(PYTHON) -m espia.gadget.description $<

clean:
	rm -rf build $(EXTENSION) $(OBJECTS) $(SOURCES:.bpf.c=.bpf.core-*.btf) $(PARSED)

# espia(1), generated from the command line's parser (`espia man` prints it).
man: build/espia.1

build/espia.1: $(shell find espia -name '*.py' -o -name gadget.yaml)
	mkdir -p build
	$(PYTHON) -m espia.cli.main man > $@

# A real two-node Kubernetes on this machine (cluster/): `make cluster` builds
# what is missing, starts it (or reuses a healthy one) and prints the admin
# kubeconfig; `make cluster-down` removes everything it made; `make cluster-build`
# only builds (binaries from cluster/build's Go modules, images).  Root only.
cluster:
	cd cluster && $(PYTHON) -m espia_cluster up

cluster-build:
	cd cluster && $(PYTHON) -m espia_cluster build

cluster-down:
	cd cluster && $(PYTHON) -m espia_cluster down

cluster-status:
	cd cluster && $(PYTHON) -m espia_cluster status

# The krew plugin: a self-contained kubectl-espia (PyInstaller one-file), its
# linux/amd64 archive and krew manifest under build/krew/ (krew/build.py); also
# builds krew itself from its pinned Go module, once.  KREW_URI: where the
# archive will be published (default: its own file).
krew:
	$(PYTHON) krew/build.py $(if $(KREW_URI),--uri $(KREW_URI))
