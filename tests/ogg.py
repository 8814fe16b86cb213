"""A small, valid OGG/Opus file made here: what Telegram delivers for a voice note.

The stream is mono, 48 kHz, 20 ms packets of Opus silence (the 3-byte CELT frame
``f8 ff fe`` that WebRTC and Discord send for silence), in Ogg pages with real
CRCs (RFC 3533), headed by ``OpusHead`` and ``OpusTags`` (RFC 7845). No encoder is
needed, so CI needs no system package. ``ogg_pages`` reads the pages back.
"""

from __future__ import annotations

import struct

SAMPLE_RATE = 48_000
PACKET_SAMPLES = 960  # 20 ms
PRE_SKIP = 312
SILENCE = b"\xf8\xff\xfe"
PACKETS_PER_PAGE = 50  # one second per page
SERIAL = 0x4E494B21


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_TABLE = _crc_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04c11db7, no reflection, initial value and final xor 0."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _TABLE[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _page(packets: list[bytes], granule: int, sequence: int, flags: int) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, SERIAL, sequence, 0, len(lacing))
    page = bytearray(header + bytes(lacing) + b"".join(packets))
    struct.pack_into("<I", page, 22, ogg_crc(bytes(page)))
    return bytes(page)


def ogg_opus(seconds: float) -> bytes:
    """``seconds`` of silence as an OGG/Opus file (a little over 150 bytes per second)."""
    head = struct.pack("<8sBBHIhB", b"OpusHead", 1, 1, PRE_SKIP, SAMPLE_RATE, 0, 0)
    vendor = b"nik-tests"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [_page([head], 0, 0, 0x02), _page([tags], 0, 1, 0)]
    count = max(1, round(seconds * SAMPLE_RATE / PACKET_SAMPLES))
    done = 0
    while done < count:
        batch = min(PACKETS_PER_PAGE, count - done)
        done += batch
        last = done == count
        pages.append(_page([SILENCE] * batch, done * PACKET_SAMPLES, len(pages), 0x04 if last else 0))
    return b"".join(pages)


def ogg_pages(data: bytes) -> list[tuple[int, int, bytes]]:
    """(flags, granule position, body) of each page, checking capture pattern and CRC."""
    pages = []
    at = 0
    while at < len(data):
        magic, version, flags, granule, _, _, crc, count = struct.unpack_from("<4sBBqIIIB", data, at)
        if magic != b"OggS" or version != 0:
            raise ValueError(f"no Ogg page at byte {at}")
        lacing = data[at + 27 : at + 27 + count]
        end = at + 27 + count + sum(lacing)
        page = bytearray(data[at:end])
        struct.pack_into("<I", page, 22, 0)
        if ogg_crc(bytes(page)) != crc:
            raise ValueError(f"bad CRC in the page at byte {at}")
        pages.append((flags, granule, data[at + 27 + count : end]))
        at = end
    return pages
