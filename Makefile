# Builds the built-in gadgets: each espia/gadgets/*/program.bpf.c into its
# program.bpf.o, against a vmlinux.h generated from the running kernel.
PYTHON ?= python3
HEADERS := $(wildcard espia/gadgets/include/espia/*.h)
SOURCES := $(shell find espia -name program.bpf.c)
OBJECTS := $(SOURCES:.c=.o)

.PHONY: all clean
all: $(OBJECTS)

%.bpf.o: %.bpf.c $(HEADERS)
	$(PYTHON) -m espia.ebpf.compile --vmlinux-dir build $<

clean:
	rm -rf build $(OBJECTS)
