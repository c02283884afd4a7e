"""The Wechaty puppet-service gRPC protocol, spoken directly with grpcio.

Only the messages and methods Qunbot uses are described here, by field number, as the puppet-service
1.x protocol defines them (the `.proto` files of the npm package wechaty-grpc 1.5.2); the message classes
are built from that table at import time, so there is no generated code and no protoc step. Protobuf is
wire-compatible across this subset: enums travel as int32, google.protobuf.Timestamp as its two fields.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "wechaty.puppet"
SERVICE = "/wechaty.Puppet/"

# Event types of EventResponse.type (wechaty/puppet/event.proto).
EVENT = {1: "heartbeat", 2: "message", 3: "dong", 16: "error", 17: "friendship", 18: "room_invite", 19: "room_join",
         20: "room_leave", 21: "room_topic", 22: "scan", 23: "ready", 24: "reset", 25: "login", 26: "logout", 27: "dirty"}

# MessagePayloadResponse.type carries the puppet's own MessageType numbers (wechaty-puppet's schema),
# which differ from the names in message.proto for text (7) and image (6): servers pass it through.
MESSAGE_TYPES = {0: "unknown", 1: "attachment", 2: "audio", 3: "contact", 4: "chat_history", 5: "emoticon", 6: "image",
                 7: "text", 8: "location", 9: "mini_program", 10: "group_note", 11: "transfer", 12: "red_envelope",
                 13: "recalled", 14: "url", 15: "video", 16: "post"}

PAYLOAD_ROOM = 3  # DirtyPayloadRequest.type
IMAGE_HD = 2  # MessageImageRequest.type (ImageType: 1 thumbnail, 2 HD, 3 artwork)

_S, _I32, _I64, _U64, _B = "string", "int32", "int64", "uint64", "bytes"
_REPEATED = "repeated string"

# message name -> [(field name, number, type)]; a type that is not a scalar names another message here.
MESSAGES: dict[str, list[tuple[str, int, str]]] = {
    "Empty": [],
    "Timestamp": [("seconds", 1, _I64), ("nanos", 2, _I32)],
    "EventResponse": [("type", 1, _I32), ("payload", 2, _S)],
    "DingRequest": [("data", 1, _S)],
    "VersionResponse": [("version", 1, _S)],
    "IdRequest": [("id", 1, _S)],
    "DirtyPayloadRequest": [("type", 1, _I32), ("id", 2, _S)],
    "MessagePayloadResponse": [("id", 1, _S), ("filename", 2, _S), ("text", 3, _S), ("timestamp_deprecated", 4, _U64),
                               ("type", 5, _I32), ("talker_id", 6, _S), ("room_id", 7, _S), ("listener_id", 8, _S),
                               ("mention_ids", 9, _REPEATED), ("receive_time", 10, "Timestamp")],
    "MessageSendTextRequest": [("conversation_id", 1, _S), ("text", 2, _S), ("mentional_ids", 3, _REPEATED)],
    "MessageSendTextResponse": [("id", 2, _S)],
    "RoomPayloadResponse": [("id", 1, _S), ("topic", 2, _S), ("avatar", 3, _S), ("owner_id", 4, _S),
                            ("admin_ids", 5, _REPEATED), ("member_ids", 6, _REPEATED), ("handle", 7, _S)],
    "RoomDelRequest": [("id", 1, _S), ("contact_id", 2, _S)],
    "RoomMemberPayloadRequest": [("id", 1, _S), ("member_id", 2, _S)],
    "RoomMemberPayloadResponse": [("id", 1, _S), ("room_alias", 2, _S), ("inviter_id", 3, _S), ("avatar", 4, _S),
                                  ("name", 5, _S)],
    "ContactPayloadResponse": [("id", 1, _S), ("gender", 2, _I32), ("type", 3, _I32), ("name", 4, _S), ("alias", 7, _S)],
    # A picture: MessageImage answers with a FileBox as JSON; a Uuid box's bytes come from Download's stream.
    "MessageImageRequest": [("id", 1, _S), ("type", 2, _I32)],
    "MessageImageResponse": [("file_box", 1, _S)],
    "DownloadRequest": [("id", 1, _S)],
    "DownloadResponse": [("chunk", 1, _B)],
}

# method -> (request message, response message, server-streaming?)
METHODS: dict[str, tuple[str, str, bool]] = {
    "Start": ("Empty", "Empty", False),
    "Stop": ("Empty", "Empty", False),
    "Ding": ("DingRequest", "Empty", False),
    "Version": ("Empty", "VersionResponse", False),
    "Event": ("Empty", "EventResponse", True),
    "DirtyPayload": ("DirtyPayloadRequest", "Empty", False),
    "MessagePayload": ("IdRequest", "MessagePayloadResponse", False),
    "MessageSendText": ("MessageSendTextRequest", "MessageSendTextResponse", False),
    "RoomPayload": ("IdRequest", "RoomPayloadResponse", False),
    "RoomDel": ("RoomDelRequest", "Empty", False),
    "RoomMemberPayload": ("RoomMemberPayloadRequest", "RoomMemberPayloadResponse", False),
    "ContactPayload": ("IdRequest", "ContactPayloadResponse", False),
    "MessageImage": ("MessageImageRequest", "MessageImageResponse", False),
    "Download": ("DownloadRequest", "DownloadResponse", True),
}

_SCALARS = {
    _S: descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    _I32: descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    _I64: descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    _U64: descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    _B: descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
}


def _file() -> descriptor_pb2.FileDescriptorProto:
    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="qunbot/wechaty_puppet_subset.proto", package=PACKAGE, syntax="proto3")
    for name, fields in MESSAGES.items():
        message = proto.message_type.add(name=name)
        for field_name, number, kind in fields:
            field = message.field.add(name=field_name, number=number, label=F.LABEL_OPTIONAL)
            if kind == _REPEATED:
                field.label, field.type = F.LABEL_REPEATED, F.TYPE_STRING
            elif kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type, field.type_name = F.TYPE_MESSAGE, f".{PACKAGE}.{kind}"
    return proto


def _classes() -> dict[str, type]:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in MESSAGES}


MESSAGE_CLASSES = _classes()


def request(method: str, **fields):
    """A request message for ``method``, e.g. ``request("RoomDel", id=room, contact_id=user)``."""
    return MESSAGE_CLASSES[METHODS[method][0]](**fields)
