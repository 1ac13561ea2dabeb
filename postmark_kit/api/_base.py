"""What every API area shares: a transport, query building, and the one way a response is read."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from ..convert import StructureError, json_type, structure, structure_list
from ..errors import ClientValidationError, InvalidResponseError
from ..pagination import Page, check_window, format_date
from ..transport import Transport

T = TypeVar("T")

__all__ = [
    "Resource",
    "item_limit",
    "query",
    "read",
    "read_items",
    "read_list",
    "read_page",
    "seg",
]


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


def item_limit(max_items: int | None, max_messages: int | None, method: str) -> int | None:
    """``max_items``, the one name of every stream's item limit; ``max_messages`` still works.

    ``max_messages`` was the limit's name on the two message streams: it
    warns, and giving both with different values is an error.
    """
    if max_messages is None:
        return max_items
    warnings.warn(
        f"{method}(max_messages=...) is deprecated: use max_items=...",
        DeprecationWarning,
        stacklevel=3,
    )
    if max_items is not None and max_items != max_messages:
        raise ClientValidationError("give max_items only (max_messages is its deprecated name)")
    return max_messages


def metadata_query(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {f"metadata_{k}": str(v) for k, v in (metadata or {}).items()}


# ----------------------------------------------------------------------------- reading responses
#
# Every 2xx body of every operation goes through ``read`` (objects) or
# ``read_items`` (arrays), which the other readers build on: whatever shape it
# has, a caller gets the model or an InvalidResponseError, never a bare
# TypeError from deep inside the converter.


def _invalid(problem: str, method: str, path: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"the response does not have the documented shape: {problem}", method=method, path=path
    )


def read(data: Any, cls: type[T], method: str, path: str) -> T:
    """A decoded JSON object -> ``cls``."""
    if data is None:
        raise _invalid(f"empty body where a {cls.__name__} object is due", method, path)
    try:
        return structure(data, cls)
    except StructureError as exc:
        raise _invalid(str(exc), method, path) from exc
    except KeyError as exc:  # a key the model requires is missing
        raise _invalid(f"{cls.__name__}: missing {exc}", method, path) from exc


def read_items(
    data: Any,
    cls: type[T],
    method: str,
    path: str,
    *,
    count: int | None = None,
    label: str | None = None,
) -> list[T]:
    """A decoded JSON array -> list of ``cls`` (exactly ``count`` of them, when given)."""
    label = label or cls.__name__
    if data.__class__ is not list:
        raise _invalid(f"{label} must be an array, got {json_type(data)}", method, path)
    if count is not None and len(data) != count:
        raise _invalid(f"expected {count} results, got {len(data)}", method, path)
    try:
        return structure_list(data, cls)
    except StructureError as exc:
        exc.label = label
        raise _invalid(str(exc), method, path) from exc
    except KeyError as exc:
        raise _invalid(f"{label}: missing {exc}", method, path) from exc


def _envelope(data: Any, method: str, path: str) -> dict[str, Any]:
    if data.__class__ is not dict:
        raise _invalid(f"expected an object, got {json_type(data)}", method, path)
    return data


def read_list(data: Any, key: str, cls: type[T], method: str, path: str) -> list[T]:
    """``{key: [...]}`` -> list of ``cls`` (a missing or null ``key`` is an empty list)."""
    items = _envelope(data, method, path).get(key)
    if items is None:
        return []
    return read_items(items, cls, method, path, label=key)


def read_page(
    data: Any, key: str, cls: type[T], method: str, path: str, *, missing_total: int | None = 0
) -> Page[T]:
    """``{"TotalCount": n, key: [...]}`` -> :class:`Page`.

    A missing ``TotalCount`` is ``missing_total`` (``None``: the items' count).
    """
    items = read_list(data, key, cls, method, path)
    total = data.get("TotalCount")
    if total is None:
        total = len(items) if missing_total is None else missing_total
    if total.__class__ is not int or total < 0:
        raise _invalid(
            f"TotalCount must be a non-negative integer, got {json_type(total)}", method, path
        )
    return Page(total=total, items=items)


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
        body: bytes | None = None,
        idempotent: bool | None = None,
    ) -> T:
        """One call whose answer is one object."""
        data = self._transport.request(
            method, path, params=params, json_body=json_body, body=body, idempotent=idempotent
        )
        return read(data, cls, method, path)

    def _call_list(
        self,
        method: str,
        path: str,
        key: str,
        cls: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
    ) -> list[T]:
        """One call whose answer is ``{key: [objects]}``."""
        data = self._transport.request(
            method, path, params=params, json_body=json_body, idempotent=idempotent
        )
        return read_list(data, key, cls, method, path)

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
        data = self._transport.request("GET", path, params=params)
        return read_page(data, key, cls, "GET", path)
