# ruff: noqa
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Selector(_message.Message):
    __slots__ = ("containername", "namespace", "podname", "labels", "all_namespaces", "host")
    CONTAINERNAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PODNAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ALL_NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    containername: str
    namespace: str
    podname: str
    labels: str
    all_namespaces: bool
    host: bool
    def __init__(
        self,
        containername: _Optional[str] = ...,
        namespace: _Optional[str] = ...,
        podname: _Optional[str] = ...,
        labels: _Optional[str] = ...,
        all_namespaces: _Optional[bool] = ...,
        host: _Optional[bool] = ...,
    ) -> None: ...

class RunRequest(_message.Message):
    __slots__ = (
        "category",
        "gadget",
        "filter",
        "timeout",
        "buffer_size",
        "interval",
        "selector",
        "queue_batches",
        "client_version",
        "params",
        "image",
        "image_digest",
    )
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    GADGET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    BUFFER_SIZE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    QUEUE_BATCHES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    category: str
    gadget: str
    filter: str
    timeout: float
    buffer_size: int
    interval: float
    selector: Selector
    queue_batches: int
    client_version: str
    params: _containers.ScalarMap[str, str]
    image: str
    image_digest: str
    def __init__(
        self,
        category: _Optional[str] = ...,
        gadget: _Optional[str] = ...,
        filter: _Optional[str] = ...,
        timeout: _Optional[float] = ...,
        buffer_size: _Optional[int] = ...,
        interval: _Optional[float] = ...,
        selector: _Optional[_Union[Selector, _Mapping]] = ...,
        queue_batches: _Optional[int] = ...,
        client_version: _Optional[str] = ...,
        params: _Optional[_Mapping[str, str]] = ...,
        image: _Optional[str] = ...,
        image_digest: _Optional[str] = ...,
    ) -> None: ...

class Schema(_message.Message):
    __slots__ = ("gadget", "node", "agent_version", "event_schema")
    GADGET_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    gadget: str
    node: str
    agent_version: str
    event_schema: str
    def __init__(
        self,
        gadget: _Optional[str] = ...,
        node: _Optional[str] = ...,
        agent_version: _Optional[str] = ...,
        event_schema: _Optional[str] = ...,
    ) -> None: ...

class Column(_message.Message):
    __slots__ = ("ints", "strings", "bools", "maps", "text")
    INTS_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    BOOLS_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ints: Ints
    strings: Strings
    bools: Bools
    maps: Maps
    text: _containers.RepeatedScalarFieldContainer[int]
    def __init__(
        self,
        ints: _Optional[_Union[Ints, _Mapping]] = ...,
        strings: _Optional[_Union[Strings, _Mapping]] = ...,
        bools: _Optional[_Union[Bools, _Mapping]] = ...,
        maps: _Optional[_Union[Maps, _Mapping]] = ...,
        text: _Optional[_Iterable[int]] = ...,
    ) -> None: ...

class Ints(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class Strings(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, index: _Optional[_Iterable[int]] = ...) -> None: ...

class Bools(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: bytes
    def __init__(self, values: _Optional[bytes] = ...) -> None: ...

class Maps(_message.Message):
    __slots__ = ("index",)
    INDEX_FIELD_NUMBER: _ClassVar[int]
    index: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, index: _Optional[_Iterable[int]] = ...) -> None: ...

class Container(_message.Message):
    __slots__ = (
        "ref",
        "id",
        "name",
        "runtime",
        "image",
        "labels",
        "k8s_namespace",
        "k8s_pod",
        "k8s_container",
        "k8s_pod_uid",
        "k8s_pod_labels",
        "sandbox",
        "k8s_node",
    )
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

    class K8sPodLabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

    REF_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    K8S_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    K8S_POD_FIELD_NUMBER: _ClassVar[int]
    K8S_CONTAINER_FIELD_NUMBER: _ClassVar[int]
    K8S_POD_UID_FIELD_NUMBER: _ClassVar[int]
    K8S_POD_LABELS_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    K8S_NODE_FIELD_NUMBER: _ClassVar[int]
    ref: int
    id: str
    name: str
    runtime: str
    image: str
    labels: _containers.ScalarMap[str, str]
    k8s_namespace: str
    k8s_pod: str
    k8s_container: str
    k8s_pod_uid: str
    k8s_pod_labels: _containers.ScalarMap[str, str]
    sandbox: bool
    k8s_node: str
    def __init__(
        self,
        ref: _Optional[int] = ...,
        id: _Optional[str] = ...,
        name: _Optional[str] = ...,
        runtime: _Optional[str] = ...,
        image: _Optional[str] = ...,
        labels: _Optional[_Mapping[str, str]] = ...,
        k8s_namespace: _Optional[str] = ...,
        k8s_pod: _Optional[str] = ...,
        k8s_container: _Optional[str] = ...,
        k8s_pod_uid: _Optional[str] = ...,
        k8s_pod_labels: _Optional[_Mapping[str, str]] = ...,
        sandbox: _Optional[bool] = ...,
        k8s_node: _Optional[str] = ...,
    ) -> None: ...

class Batch(_message.Message):
    __slots__ = (
        "seq",
        "count",
        "columns",
        "strings",
        "containers",
        "new_containers",
        "kernel_lost",
        "queue_lost",
        "interval",
    )
    SEQ_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    NEW_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_LOST_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LOST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    count: int
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    strings: _containers.RepeatedScalarFieldContainer[str]
    containers: _containers.RepeatedScalarFieldContainer[int]
    new_containers: _containers.RepeatedCompositeFieldContainer[Container]
    kernel_lost: int
    queue_lost: int
    interval: int
    def __init__(
        self,
        seq: _Optional[int] = ...,
        count: _Optional[int] = ...,
        columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ...,
        strings: _Optional[_Iterable[str]] = ...,
        containers: _Optional[_Iterable[int]] = ...,
        new_containers: _Optional[_Iterable[_Union[Container, _Mapping]]] = ...,
        kernel_lost: _Optional[int] = ...,
        queue_lost: _Optional[int] = ...,
        interval: _Optional[int] = ...,
    ) -> None: ...

class Summary(_message.Message):
    __slots__ = (
        "received",
        "delivered",
        "kernel_lost",
        "queue_lost",
        "batches",
        "dropped_batches",
        "error",
        "exit_code",
        "agent_stopped",
    )
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    KERNEL_LOST_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LOST_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    AGENT_STOPPED_FIELD_NUMBER: _ClassVar[int]
    received: int
    delivered: int
    kernel_lost: int
    queue_lost: int
    batches: int
    dropped_batches: int
    error: str
    exit_code: int
    agent_stopped: bool
    def __init__(
        self,
        received: _Optional[int] = ...,
        delivered: _Optional[int] = ...,
        kernel_lost: _Optional[int] = ...,
        queue_lost: _Optional[int] = ...,
        batches: _Optional[int] = ...,
        dropped_batches: _Optional[int] = ...,
        error: _Optional[str] = ...,
        exit_code: _Optional[int] = ...,
        agent_stopped: _Optional[bool] = ...,
    ) -> None: ...

class RunReply(_message.Message):
    __slots__ = ("schema", "batch", "warning", "summary")
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    schema: Schema
    batch: Batch
    warning: str
    summary: Summary
    def __init__(
        self,
        schema: _Optional[_Union[Schema, _Mapping]] = ...,
        batch: _Optional[_Union[Batch, _Mapping]] = ...,
        warning: _Optional[str] = ...,
        summary: _Optional[_Union[Summary, _Mapping]] = ...,
    ) -> None: ...

class ListContainersRequest(_message.Message):
    __slots__ = ("selector",)
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    selector: Selector
    def __init__(self, selector: _Optional[_Union[Selector, _Mapping]] = ...) -> None: ...

class ListContainersReply(_message.Message):
    __slots__ = ("node", "containers")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    node: str
    containers: _containers.RepeatedCompositeFieldContainer[Container]
    def __init__(
        self,
        node: _Optional[str] = ...,
        containers: _Optional[_Iterable[_Union[Container, _Mapping]]] = ...,
    ) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InfoReply(_message.Message):
    __slots__ = ("version", "node", "kernel", "runtimes", "gadgets")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    RUNTIMES_FIELD_NUMBER: _ClassVar[int]
    GADGETS_FIELD_NUMBER: _ClassVar[int]
    version: str
    node: str
    kernel: str
    runtimes: _containers.RepeatedScalarFieldContainer[str]
    gadgets: _containers.RepeatedScalarFieldContainer[str]
    def __init__(
        self,
        version: _Optional[str] = ...,
        node: _Optional[str] = ...,
        kernel: _Optional[str] = ...,
        runtimes: _Optional[_Iterable[str]] = ...,
        gadgets: _Optional[_Iterable[str]] = ...,
    ) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthReply(_message.Message):
    __slots__ = ("serving", "reason")
    SERVING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    serving: bool
    reason: str
    def __init__(self, serving: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class Blob(_message.Message):
    __slots__ = ("digest", "data")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    digest: str
    data: bytes
    def __init__(self, digest: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class ImageUpload(_message.Message):
    __slots__ = (
        "reference",
        "manifest",
        "blobs",
        "verify",
        "public_key",
        "signature_manifest",
        "signature_blobs",
    )
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_BLOBS_FIELD_NUMBER: _ClassVar[int]
    reference: str
    manifest: bytes
    blobs: _containers.RepeatedCompositeFieldContainer[Blob]
    verify: bool
    public_key: bytes
    signature_manifest: bytes
    signature_blobs: _containers.RepeatedCompositeFieldContainer[Blob]
    def __init__(
        self,
        reference: _Optional[str] = ...,
        manifest: _Optional[bytes] = ...,
        blobs: _Optional[_Iterable[_Union[Blob, _Mapping]]] = ...,
        verify: _Optional[bool] = ...,
        public_key: _Optional[bytes] = ...,
        signature_manifest: _Optional[bytes] = ...,
        signature_blobs: _Optional[_Iterable[_Union[Blob, _Mapping]]] = ...,
    ) -> None: ...

class ImageReply(_message.Message):
    __slots__ = ("digest", "missing", "error", "exit_code", "received")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    digest: str
    missing: _containers.RepeatedScalarFieldContainer[str]
    error: str
    exit_code: int
    received: int
    def __init__(
        self,
        digest: _Optional[str] = ...,
        missing: _Optional[_Iterable[str]] = ...,
        error: _Optional[str] = ...,
        exit_code: _Optional[int] = ...,
        received: _Optional[int] = ...,
    ) -> None: ...

class ListImagesRequest(_message.Message):
    __slots__ = ("reference",)
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    def __init__(self, reference: _Optional[str] = ...) -> None: ...

class StoredImage(_message.Message):
    __slots__ = ("reference", "digest", "size", "manifest", "config")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    reference: str
    digest: str
    size: int
    manifest: str
    config: str
    def __init__(
        self,
        reference: _Optional[str] = ...,
        digest: _Optional[str] = ...,
        size: _Optional[int] = ...,
        manifest: _Optional[str] = ...,
        config: _Optional[str] = ...,
    ) -> None: ...

class ListImagesReply(_message.Message):
    __slots__ = ("node", "images", "error")
    NODE_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    node: str
    images: _containers.RepeatedCompositeFieldContainer[StoredImage]
    error: str
    def __init__(
        self,
        node: _Optional[str] = ...,
        images: _Optional[_Iterable[_Union[StoredImage, _Mapping]]] = ...,
        error: _Optional[str] = ...,
    ) -> None: ...
