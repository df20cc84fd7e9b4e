# Builds the built-in gadgets: each espia/gadgets/*/program.bpf.c into its
# program.bpf.o, against a vmlinux.h generated from the running kernel.
PYTHON ?= python3
HEADERS := $(wildcard espia/gadgets/include/espia/*.h)
SOURCES := $(shell find espia -name program.bpf.c)
OBJECTS := $(SOURCES:.c=.o)

.PHONY: all clean cluster cluster-build cluster-down cluster-status
all: $(OBJECTS)

%.bpf.o: %.bpf.c $(HEADERS)
	$(PYTHON) -m espia.ebpf.compile --vmlinux-dir build $<

clean:
	rm -rf build $(OBJECTS)

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
