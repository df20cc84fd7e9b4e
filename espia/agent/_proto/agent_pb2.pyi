# ruff: noqa
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INT: _ClassVar[Kind]
    STR: _ClassVar[Kind]
    BOOL: _ClassVar[Kind]
    MAP: _ClassVar[Kind]

INT: Kind
STR: Kind
BOOL: Kind
MAP: Kind

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
    )
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    GADGET_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    BUFFER_SIZE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    QUEUE_BATCHES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    category: str
    gadget: str
    filter: str
    timeout: float
    buffer_size: int
    interval: float
    selector: Selector
    queue_batches: int
    client_version: str
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
    ) -> None: ...

class Field(_message.Message):
    __slots__ = (
        "name",
        "kind",
        "description",
        "hidden",
        "width",
        "right",
        "untrusted",
        "json_text",
        "rendered",
        "container",
    )
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    RIGHT_FIELD_NUMBER: _ClassVar[int]
    UNTRUSTED_FIELD_NUMBER: _ClassVar[int]
    JSON_TEXT_FIELD_NUMBER: _ClassVar[int]
    RENDERED_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: Kind
    description: str
    hidden: bool
    width: int
    right: bool
    untrusted: bool
    json_text: bool
    rendered: bool
    container: bool
    def __init__(
        self,
        name: _Optional[str] = ...,
        kind: _Optional[_Union[Kind, str]] = ...,
        description: _Optional[str] = ...,
        hidden: _Optional[bool] = ...,
        width: _Optional[int] = ...,
        right: _Optional[bool] = ...,
        untrusted: _Optional[bool] = ...,
        json_text: _Optional[bool] = ...,
        rendered: _Optional[bool] = ...,
        container: _Optional[bool] = ...,
    ) -> None: ...

class Schema(_message.Message):
    __slots__ = ("gadget", "fields", "default_columns", "node", "json_lists", "agent_version")
    GADGET_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    JSON_LISTS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    gadget: str
    fields: _containers.RepeatedCompositeFieldContainer[Field]
    default_columns: _containers.RepeatedScalarFieldContainer[str]
    node: str
    json_lists: bool
    agent_version: str
    def __init__(
        self,
        gadget: _Optional[str] = ...,
        fields: _Optional[_Iterable[_Union[Field, _Mapping]]] = ...,
        default_columns: _Optional[_Iterable[str]] = ...,
        node: _Optional[str] = ...,
        json_lists: _Optional[bool] = ...,
        agent_version: _Optional[str] = ...,
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
    )
    SEQ_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    NEW_CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_LOST_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LOST_FIELD_NUMBER: _ClassVar[int]
    seq: int
    count: int
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    strings: _containers.RepeatedScalarFieldContainer[str]
    containers: _containers.RepeatedScalarFieldContainer[int]
    new_containers: _containers.RepeatedCompositeFieldContainer[Container]
    kernel_lost: int
    queue_lost: int
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
    )
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    KERNEL_LOST_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LOST_FIELD_NUMBER: _ClassVar[int]
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    received: int
    delivered: int
    kernel_lost: int
    queue_lost: int
    batches: int
    dropped_batches: int
    error: str
    exit_code: int
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
