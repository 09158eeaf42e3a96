"""Request bodies, with gzip inflation bounded by the body limit.

The Site refuses a body whose transferred size is over the limit before
reading it (``site.py``); a gzip body is checked again while it inflates,
so a small "zip bomb" never expands past the limit in memory.
"""

from __future__ import annotations

import zlib

from twisted.web.iweb import IRequest

from osrs_twisted.http.errors import ApiError

#: ``wbits`` that makes zlib expect a gzip header and trailer.
GZIP_WBITS = 16 + zlib.MAX_WBITS


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate a gzip stream to at most ``limit`` bytes.

    Raises ValueError for a corrupt or truncated stream and OverflowError
    when the inflated data would exceed ``limit``.
    """
    inflater = zlib.decompressobj(GZIP_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise ValueError(f"corrupt gzip body: {e}") from None
    if len(out) > limit:
        raise OverflowError(f"request body inflates past the limit of {limit} bytes")
    if not inflater.eof:
        raise ValueError("truncated gzip body")
    return out


def read_body(request: IRequest, limit: int) -> bytes:
    """The request body, inflated when ``Content-Encoding: gzip``."""
    content = request.content
    raw: bytes = b"" if content is None else content.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
    encoding = (request.getHeader(b"content-encoding") or b"identity").strip().lower()
    if encoding == b"identity":
        return raw
    if encoding != b"gzip":
        raise ApiError(415, f"unsupported Content-Encoding {encoding.decode('latin-1')!r}; use gzip")
    try:
        return gunzip(raw, limit)
    except OverflowError as e:
        raise ApiError(413, str(e)) from None
    except ValueError as e:
        raise ApiError(400, str(e)) from None
