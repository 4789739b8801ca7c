"""The three events of the message flow and the dead-letter record: dataclasses with a strict JSON codec.

Every message carries `schema` (its version) and `type`. Decoding checks structure and types and raises
MessageError saying what is wrong; whether a section or seat exists is the service's question, not the codec's.

msgspec does the checking of every well-formed message in C (≈ 0.5 µs where the checks in Python took 10-15 µs:
≈ 40 µs of a booking's 200-300 µs of Python CPU over its four codec calls). What it refuses goes through the checks,
which name the problem for the dead-letter record, and which also take what JSON allows beyond msgspec
(`NaN`, UTF-16): a message is accepted or refused exactly as before.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar, Literal, Union, get_type_hints

import msgspec

from labkit.errors import MessageError

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024

Mode = Literal["best_available", "manual"]
MODES: tuple[str, ...] = ("best_available", "manual")

# Reasons a reservation fails, sent in `seat-reservation-failed`.
SEAT_TAKEN = "SEAT_TAKEN"  # a manual seat is reserved already: all-or-nothing, nothing taken
SOLD_OUT = "SOLD_OUT"  # the subsection has no seat left
NOT_ENOUGH_SEATS = "NOT_ENOUGH_SEATS"  # fewer seats left than asked for
NOT_ENOUGH_ADJACENT = "NOT_ENOUGH_ADJACENT"  # enough seats, but not side by side, and the request forbids a split
INVALID_SEAT = "INVALID_SEAT"  # a seat id outside the subsection, or twice in one request
INVALID_REQUEST = "INVALID_REQUEST"  # unknown event/section/subsection, quantity out of range
REASONS = (SEAT_TAKEN, SOLD_OUT, NOT_ENOUGH_SEATS, NOT_ENOUGH_ADJACENT, INVALID_SEAT, INVALID_REQUEST)


def now_ms() -> float:
    return time.time() * 1000.0


@dataclass(frozen=True)
class ReserveSeats:
    """ticketing → seat-reservation: reserve `quantity` best-available seats, or exactly `seat_ids`."""

    TYPE: ClassVar[str] = "reserve-seats"
    booking_id: str
    event_id: int
    buyer_id: str
    section: str
    subsection: int
    mode: str
    quantity: int
    seat_ids: tuple[str, ...] = ()
    allow_split: bool = True
    requested_at: float = field(default_factory=now_ms)


@dataclass(frozen=True)
class SeatReserved:
    """seat-reservation → ticketing: the seats now belong to the booking; counters after the change."""

    TYPE: ClassVar[str] = "seat-reserved"
    booking_id: str
    event_id: int
    section: str
    subsection: int
    seats: tuple[str, ...]
    total_price: int
    subsection_available: int
    subsection_reserved: int
    adjacent: bool = True


@dataclass(frozen=True)
class SeatReservationFailed:
    """seat-reservation → ticketing: nothing was reserved, and why (`reason` is one of REASONS)."""

    TYPE: ClassVar[str] = "seat-reservation-failed"
    booking_id: str
    event_id: int
    section: str
    subsection: int
    reason: str
    message: str


@dataclass(frozen=True)
class DeadLetter:
    """A message a service could not decode, parked with the reason and everything needed to replay it."""

    TYPE: ClassVar[str] = "dead-letter"
    service: str
    reason: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value_base64: str
    parked_at: float = field(default_factory=now_ms)
    value_size: int = 0  # bytes of the original value; more than in value_base64 when it was truncated
    truncated: bool = False  # only the first bytes are kept (see services.dead_letter.KEPT_BYTES)

    @property
    def original_value(self) -> bytes:
        return base64.b64decode(self.value_base64)


Message = ReserveSeats | SeatReserved | SeatReservationFailed | DeadLetter
_TYPES: dict[str, type[Any]] = {
    cls.TYPE: cls for cls in (ReserveSeats, SeatReserved, SeatReservationFailed, DeadLetter)
}
_FIELDS: dict[type[Any], dict[str, Field[Any]]] = {cls: {f.name: f for f in fields(cls)} for cls in _TYPES.values()}

# field → accepted Python types after json.loads (tuples arrive as lists)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "booking_id": (str,),
    "event_id": (int,),
    "buyer_id": (str,),
    "section": (str,),
    "subsection": (int,),
    "mode": (str,),
    "quantity": (int,),
    "seat_ids": (list,),
    "allow_split": (bool,),
    "requested_at": (int, float),
    "seats": (list,),
    "total_price": (int,),
    "subsection_available": (int,),
    "subsection_reserved": (int,),
    "adjacent": (bool,),
    "reason": (str,),
    "message": (str,),
    "service": (str,),
    "topic": (str,),
    "partition": (int,),
    "offset": (int,),
    "key": (str, type(None)),
    "value_base64": (str,),
    "parked_at": (int, float),
    "value_size": (int,),
    "truncated": (bool,),
}


def _wire_type(cls: type[Any]) -> type[msgspec.Struct]:
    """What msgspec checks for `cls`: `schema` (required, SCHEMA_VERSION), then cls's fields with their types and
    defaults; tagged by `type`; no other field."""
    hints = get_type_hints(cls)
    specs: list[Any] = [("schema", Literal[SCHEMA_VERSION])]  # type: ignore[valid-type]
    for f in fields(cls):
        if f.default is not MISSING:
            specs.append((f.name, hints[f.name], f.default))
        elif f.default_factory is not MISSING:
            specs.append((f.name, hints[f.name], msgspec.field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, hints[f.name]))
    return msgspec.defstruct(
        f"{cls.__name__}OnTheWire", specs, tag_field="type", tag=cls.TYPE, forbid_unknown_fields=True, frozen=True
    )


_WIRE_TYPES = {_wire_type(cls): cls for cls in _TYPES.values()}
_DECODER = msgspec.json.Decoder(Union[tuple(_WIRE_TYPES)])  # type: ignore[valid-type]  # noqa: UP007
_ENCODER = msgspec.json.Encoder()
# A message's JSON: `schema` and `type` first, then its fields in their order (msgspec encodes a dataclass's).
_HEADERS = {cls: b'{"schema":%d,"type":"%s",' % (SCHEMA_VERSION, cls.TYPE.encode()) for cls in _TYPES.values()}


def encode(message: Message) -> bytes:
    return _HEADERS[type(message)] + _ENCODER.encode(message)[1:]


def decode(data: bytes | None, expected: type[Any] | None = None) -> Any:
    """bytes → message; MessageError naming the problem (bad JSON, schema, type, missing/unknown/mistyped field)."""
    if data is None:
        raise MessageError("empty message (no value)")
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message is {len(data)} bytes, more than the {MAX_MESSAGE_BYTES} allowed")
    try:
        wire = _DECODER.decode(data)
    except msgspec.MsgspecError:
        return decode_in_python(data, expected)  # names what is wrong, or accepts what msgspec does not parse
    cls = _WIRE_TYPES[type(wire)]
    if expected is not None and cls is not expected:
        raise MessageError(f"expected a {expected.TYPE} message, got {cls.TYPE!r}")
    message = cls(*msgspec.structs.astuple(wire)[1:])  # without `schema`
    if isinstance(message, ReserveSeats):
        _check_reserve_seats(message)
    return message


def decode_in_python(data: bytes, expected: type[Any] | None) -> Any:
    """The checks one at a time in Python, for what msgspec refused: the first problem found is the reason. Also
    the reference `decode` is tested against (tests/test_bad_input.py): both accept and refuse the same."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MessageError(f"expected a JSON object, got {type(body).__name__}")
    schema = body.pop("schema", None)
    if schema != SCHEMA_VERSION:
        raise MessageError(f"unknown schema version {schema!r}, expected {SCHEMA_VERSION}")
    kind = body.pop("type", None)
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise MessageError(f"unknown message type {kind!r}, expected one of {sorted(_TYPES)}")
    if expected is not None and cls is not expected:
        raise MessageError(f"expected a {expected.TYPE} message, got {kind!r}")
    known = _FIELDS[cls]  # the instance fields, not the TYPE class variable
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise MessageError(f"unknown field(s) {unknown} in {kind}")
    required = [n for n, f in known.items() if _required(f)]
    missing = [n for n in required if n not in body]
    if missing:
        raise MessageError(f"missing field(s) {missing} in {kind}")
    for name, value in body.items():
        allowed = _FIELD_TYPES[name]
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise MessageError(f"field {name!r} must be {names}, got {json.dumps(value)[:60]}")
    for name in ("seat_ids", "seats"):
        if name in body:
            if not all(isinstance(s, str) for s in body[name]):
                raise MessageError(f"field {name!r} must be a list of strings")
            body[name] = tuple(body[name])
    message = cls(**body)
    if isinstance(message, ReserveSeats):
        _check_reserve_seats(message)
    return message


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _check_reserve_seats(m: ReserveSeats) -> None:
    """Structure a reserve-seats request must have before anyone looks at the venue."""
    try:
        uuid.UUID(m.booking_id)
    except ValueError:
        raise MessageError(f"booking_id must be a UUID, got {m.booking_id!r}") from None
    if m.mode not in MODES:
        raise MessageError(f"mode must be one of {MODES}, got {m.mode!r}")
    if m.mode == "manual" and len(m.seat_ids) != m.quantity:
        raise MessageError(
            f"a manual request's quantity ({m.quantity}) must equal its number of seat_ids ({len(m.seat_ids)})"
        )
    if m.mode == "best_available" and m.seat_ids:
        raise MessageError("a best_available request must not name seat_ids")
