"""What every API area shares: a transport, query building, page structuring."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from ..convert import structure, structure_list
from ..errors import InvalidResponseError
from ..pagination import Page, check_window, format_date
from ..transport import Transport

T = TypeVar("T")

__all__ = ["Resource", "query", "seg"]


def seg(value: str | int) -> str:
    """One URL path segment, escaped (aliases and ids are user data)."""
    return quote(str(value), safe="")


def query(**params: Any) -> dict[str, str]:
    """Query string from typed keyword arguments: ``None`` dropped, bools and dates formatted."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, datetime | date):
            out[name] = format_date(value)
        else:
            out[name] = str(value)
    return out


def metadata_query(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {f"metadata_{k}": str(v) for k, v in (metadata or {}).items()}


def _bad_shape(exc: Exception, method: str, path: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"the response does not have the documented shape ({type(exc).__name__}: {exc})",
        method=method,
        path=path,
    )


def _structured(data: Any, cls: type[T], method: str, path: str) -> T:
    """Structure a response; a body of the wrong shape is an InvalidResponseError."""
    try:
        return structure(data, cls)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _bad_shape(exc, method, path) from exc


class Resource:
    """Base of every API area: holds the client's transport."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def _call(
        self,
        method: str,
        path: str,
        cls: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> T:
        data = self._transport.request(method, path, params=params, json_body=json_body)
        return _structured(data if data is not None else {}, cls, method, path)

    def _page(
        self,
        path: str,
        key: str,
        cls: type[T],
        params: dict[str, str],
        count: int,
        offset: int,
        *,
        max_window: int | None = None,
        count_name: str = "count",
        offset_name: str = "offset",
    ) -> Page[T]:
        check_window(count, offset, max_window=max_window)
        params[count_name] = str(count)
        params[offset_name] = str(offset)
        data = self._transport.request("GET", path, params=params) or {}
        try:
            return Page(
                total=int(data.get("TotalCount") or 0), items=structure_list(data.get(key), cls)
            )
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise _bad_shape(exc, "GET", path) from exc
