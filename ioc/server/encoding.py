"""Large arrays converted to the wire's type once, and monitor updates encoded once for every subscriber.

A pvproperty whose ChannelData class has :class:`EncodedOnce` (the IOC's ``image1:ArrayData``)
converts its value to the wire's big-endian type once per value written, not once per get and
post; gets of that value are answered from the cached conversion and metadata
(``Circuit._fast_read``) without a copy. :class:`Encoded` is one monitor update's payload,
made once per post (per data type, count and array filter) and shared by every subscriber.
"""

from __future__ import annotations

import caproto as ca
import numpy as np
from caproto import ChannelType

from .caproto_internals import EventAddResponseHeader, LongStringChannelType, pad_buffers, parse_metadata
from .limits import LARGE
from .wire import ECA_NORMAL, NUMERIC, WIRE_TYPES, as_wire


class Encoded:
    """One EventAddResponse's payload, shared by every subscriber it goes to."""

    __slots__ = ("header", "payload", "nbytes")

    @classmethod
    def update(cls, channel, values, metadata, data_type, data_count: int) -> Encoded:
        """The update as caproto's ``channel.subscribe`` makes it, but a large array that ``_read``
        already converted to the wire's big-endian type is used as it is (caproto copies it again)."""
        if (isinstance(values, np.ndarray) and values.nbytes >= LARGE and isinstance(data_type, ChannelType)
                and values.flags.c_contiguous and values.dtype == WIRE_TYPES.get(ca.native_type(data_type))):
            md = parse_metadata(metadata, data_type)
            size, pad = pad_buffers(md, values)
            header = EventAddResponseHeader(size, data_type, data_count, ECA_NORMAL, 0)
            return cls(header, (md, values, pad))
        command = channel.subscribe(data=values, metadata=metadata, data_type=data_type, data_count=data_count,
                                    subscriptionid=0, status=1)
        return cls(command.header, command.buffers)

    def __init__(self, header, buffers) -> None:
        self.header = header
        parts = [as_wire(b) for b in buffers]
        self.nbytes = sum(len(p) for p in parts)
        if self.nbytes < LARGE or len(parts) != 2 and len(parts) != 3:
            self.payload = [b"".join(parts)]
        else:
            self.payload = [p for p in parts if len(p)]

    def header_for(self, subscriptionid: int) -> bytes:
        header = type(self.header).from_buffer_copy(self.header)
        header.parameter2 = subscriptionid
        return bytes(header)


class EncodedOnce:
    """A ChannelData mixin: a large array value is converted to the wire's type once per value
    written, not once per get and post (caproto's ``_read`` converts, i.e. copies, it each time).

    The converted array is kept until the next write, for each wire type asked for, and so is
    the DBR metadata, until the next write of metadata or alarm; gets and monitor posts of the
    same value send that one copy (see ``Encoded.update``, ``Circuit._fast_read``).
    """

    _encoded: tuple | None = None  # (the value converted, {native type: wire array}, {DBR type: (key, metadata)})
    _metadata_generation = 0
    _wire: tuple | None = None  # (metadata, values, DBR type, their reply payload): the last get's

    def reply_payload(self, data_type, metadata, values: np.ndarray) -> tuple[bytes, memoryview, bytes, int]:
        """(metadata bytes, the array's bytes, padding, payload size) of a reply carrying what
        ``_read`` returned; kept while ``_read`` returns the same objects."""
        wire = self._wire
        if wire is None or wire[0] is not metadata or wire[1] is not values or wire[2] != data_type:
            md = bytes(parse_metadata(metadata, data_type))
            size, pad = pad_buffers(md, values)
            wire = self._wire = (metadata, values, data_type, (md, memoryview(values.view(np.uint8)), bytes(pad), size))
        return wire[3]

    async def write(self, *args, **kwargs):
        self._encoded = self._wire = None  # also when the same array object is written again, changed in place
        return await super().write(*args, **kwargs)

    async def write_metadata(self, *args, **kwargs):
        self._metadata_generation += 1
        return await super().write_metadata(*args, **kwargs)

    async def _read(self, data_type):
        value = self.value
        if (not isinstance(value, np.ndarray) or value.nbytes < LARGE or data_type in LongStringChannelType
                or data_type in (ChannelType.STSACK_STRING, ChannelType.CLASS_NAME)):
            return await super()._read(data_type)
        native_to = ca.native_type(data_type)
        if self.data_type not in NUMERIC or native_to not in NUMERIC:
            return await super()._read(data_type)  # strings, enums, chars: caproto's conversions
        cached = self._encoded
        if cached is None or cached[0] is not value:
            cached = self._encoded = (value, {}, {})
        values = cached[1].get(native_to)
        if values is None:
            values = np.ascontiguousarray(value).astype(WIRE_TYPES[native_to])
            values.flags.writeable = False  # shared by every get and post of this value
            cached[1][native_to] = values
        if data_type in ca.native_types:
            return b"", values
        alarm = self.alarm
        key = (self._metadata_generation, self.timestamp, alarm.status, alarm.severity)
        known = cached[2].get(data_type)
        if known is not None and known[0] == key:
            return known[1], values
        metadata = ca.DBR_TYPES[data_type]()
        self._read_metadata(metadata)
        alarm_dbr = await alarm.read()
        for field, _ in alarm_dbr._fields_:
            if hasattr(metadata, field):
                setattr(metadata, field, getattr(alarm_dbr, field))
        cached[2][data_type] = (key, metadata)
        return metadata, values
