"""Gadget images: a gadget packed as an OCI artifact, stored locally, moved through registries.

An image is an OCI image manifest (``application/vnd.oci.image.manifest.v1+json``)
whose ``artifactType`` and blobs have media types of espia's own:

====================================================  ===========================================
media type                                            what
====================================================  ===========================================
``application/vnd.espia.gadget.v1``                   the manifest's ``artifactType``
``application/vnd.espia.gadget.config.v1+json``       config: ``{"name", "espia", "architectures"}``
``application/vnd.espia.gadget.object.v1+elf``        a built object; annotation
                                                      ``io.espia.gadget.arch`` (``x86_64``...)
``application/vnd.espia.gadget.yaml.v1+yaml``         gadget.yaml (optional)
``application/vnd.espia.gadget.source.v1+c``          program.bpf.c (optional; not run)
====================================================  ===========================================

Every layer carries ``org.opencontainers.image.title`` (its file name).
The object is built for this machine's architecture; another is added by
building the same source with ``-D__TARGET_ARCH_<arch>`` against that
architecture's vmlinux.h and adding it as one more object layer with its
``io.espia.gadget.arch`` (`espia image build --object ARCH=FILE`); a run
picks the layer of its own architecture.

Signatures follow cosign's layout: the signature of the manifest with digest
``sha256:H`` is an image tagged ``sha256-H.sig`` in the same repository, one
layer of media type ``application/vnd.dev.cosign.simplesigning.v1+json``
holding the simple-signing payload, with the base64 ECDSA P-256 / SHA-256
signature in its ``dev.cosignproject.cosign/signature`` annotation (see
espia.images.signing).
"""

from __future__ import annotations

ARTIFACT_TYPE = "application/vnd.espia.gadget.v1"
CONFIG_TYPE = "application/vnd.espia.gadget.config.v1+json"
OBJECT_TYPE = "application/vnd.espia.gadget.object.v1+elf"
YAML_TYPE = "application/vnd.espia.gadget.yaml.v1+yaml"
SOURCE_TYPE = "application/vnd.espia.gadget.source.v1+c"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
TITLE = "org.opencontainers.image.title"
ARCH = "io.espia.gadget.arch"
LAYER_TYPES = (OBJECT_TYPE, YAML_TYPE, SOURCE_TYPE)
