"""Header containers: the client's `CaseInsensitiveDict` view and the response's
`CaseInsensitiveHeaderMap` (CONTRACT §2.3, §3.4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, overload

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["CaseInsensitiveDict", "CaseInsensitiveHeaderMap"]

_lower = str.lower  # TypeError (not AttributeError) for a non-str key, like the original

_UpdateArg = Mapping[str, str] | Iterable[tuple[str, str]] | None


def _update_pairs(other: _UpdateArg, kwargs: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (key, value) pairs `dict.update(other, **kwargs)` would apply, in order."""
    pairs: list[tuple[str, str]] = []
    if other is not None:
        if isinstance(other, Mapping) or hasattr(other, "keys"):
            mapping: Any = other
            pairs.extend((k, mapping[k]) for k in mapping.keys())  # noqa: SIM118 (dict.update's protocol)
        else:
            pairs.extend((k, v) for k, v in other)
    pairs.extend(kwargs.items())
    return pairs


class CaseInsensitiveDict(dict[str, str]):
    """A `dict[str, str]` that stores lowercased keys and looks keys up case-insensitively.

    Being a real dict, it compares equal to a plain dict with lowercase keys:
    ``CaseInsensitiveDict({"X-Test": "1"}) == {"x-test": "1"}``.
    """

    __slots__ = ()

    def __init__(self, data: _UpdateArg = None, **kwargs: str) -> None:
        super().__init__()
        # dict.__init__ would bypass the lowercasing __setitem__.
        for key, value in _update_pairs(data, kwargs):
            dict.__setitem__(self, _lower(key), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(_lower(key))

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(_lower(key), value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(_lower(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    @overload  # type: ignore[override]
    def get(self, key: str, default: None = None) -> str | None: ...
    @overload
    def get(self, key: str, default: str) -> str: ...
    def get(self, key: str, default: str | None = None) -> str | None:
        return super().get(_lower(key), default)

    def pop(self, key: str, *default: Any) -> Any:
        return super().pop(_lower(key), *default)

    def setdefault(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().setdefault(_lower(key), default)  # type: ignore[arg-type]

    def update(self, other: _UpdateArg = None, /, **kwargs: str) -> None:  # type: ignore[override]
        for key, value in _update_pairs(other, kwargs):
            self[key] = value

    def __ior__(self, other: _UpdateArg) -> Self:  # type: ignore[override,misc]
        # dict.__ior__ would insert the keys as given, skipping __setitem__.
        self.update(other)
        return self

    def copy(self) -> CaseInsensitiveDict:
        return CaseInsensitiveDict(self)


class _HeaderSink(Protocol):
    def set_header(self, key: str, value: str) -> None: ...
    def del_header(self, key: str) -> None: ...


class _ClientHeaders(CaseInsensitiveDict):
    """`client.headers`: a snapshot of the client's headers whose mutations write
    through to the client via `set_header()` / `del_header()`.

    Reads see the snapshot taken when `client.headers` was evaluated; every
    mutation is applied to both the snapshot and the client.
    """

    __slots__ = ("_client",)

    def __init__(self, client: _HeaderSink, data: Mapping[str, str]) -> None:
        super().__init__(data)
        self._client = client

    def __setitem__(self, key: str, value: str) -> None:
        # The client validates first, so a bad value leaves the snapshot untouched.
        self._client.set_header(key, value)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._client.del_header(key)

    def pop(self, key: str, *default: Any) -> Any:
        existed = key in self
        value = super().pop(key, *default)
        if existed:
            self._client.del_header(key)
        return value

    def popitem(self) -> tuple[str, str]:
        key, value = super().popitem()
        self._client.del_header(key)
        return key, value

    def setdefault(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if key in self:
            return self[key]
        if default is None:
            # No value to store: a header cannot be None, so this is a no-op.
            return None
        self[key] = default
        return default

    def clear(self) -> None:
        keys = list(self)
        super().clear()
        for key in keys:
            self._client.del_header(key)

    def copy(self) -> CaseInsensitiveDict:
        return CaseInsensitiveDict(self)  # detached: no write-through


class CaseInsensitiveHeaderMap:
    """Response headers: ordered, one value per name, case-insensitive lookups.

    For a repeated header (several ``Set-Cookie``, say) the last value wins in
    ``[]``/``get``/``items``; `get_all()` returns every value in wire order.
    Names are lowercase. `keys()`, `values()` and `items()` return lists.
    """

    __slots__ = ("_flat", "_map")

    _map: dict[str, str]
    _flat: list[str]  # name, value, name, value, ... in wire order (for get_all)

    def __init__(self) -> None:
        self._map = {}
        self._flat = []

    @classmethod
    def _from_raw(cls, raw: bytes) -> CaseInsensitiveHeaderMap:
        """Build from the native ``b"name\\0value\\0..."`` block (names already lowercase).

        One decode and one split; ``dict(zip(it, it))`` keeps each name at its
        first position with its last value, which is the documented rule.
        """
        self = cls.__new__(cls)
        flat = raw.decode("latin-1").split("\0")
        if len(flat) & 1:
            flat.pop()  # the empty string after the trailing NUL
        it = iter(flat)
        self._map = dict(zip(it, it, strict=False))
        self._flat = flat
        return self

    def __getitem__(self, key: str) -> str:
        try:
            return self._map[_lower(key)]
        except KeyError:
            raise KeyError(f"Header key '{key}' not found") from None

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def keys(self) -> list[str]:
        return list(self._map)

    def values(self) -> list[str]:
        return list(self._map.values())

    def items(self) -> list[tuple[str, str]]:
        return list(self._map.items())

    def get(self, key: str, default: str | None = None) -> str:
        """The header's value; ``default`` -- or ``""`` when it is None -- if absent."""
        value = self._map.get(_lower(key))
        if value is not None:
            return value
        return "" if default is None else default

    def get_all(self, key: str) -> list[str]:
        """Every value of a header, in the order received (``[]`` if absent)."""
        name = _lower(key)
        flat = self._flat
        return [flat[i + 1] for i in range(0, len(flat), 2) if flat[i] == name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._map!r})"
