"""One pattern for everything chosen by name: models, losses and data sets.

A :class:`Registry` maps a name to an entry (a builder, or a record holding one) and a one-line
description. Asking for a name it does not hold raises one kind of error everywhere::

    unknown loss 'ldrld'. Did you mean 'ldrrld', 'ldrrld-irw', 'ldrrld-erd'? Losses: ce, dkd, ...

A registry is a read-only mapping (``name in LOSSES``, ``LOSSES[name]``, ``list(LOSSES)``);
entries are added with :meth:`Registry.add`, or with :meth:`Registry.register` as a decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from .suggestions import did_you_mean

__all__ = ["Registry"]

Entry = TypeVar("Entry")


class Registry(Mapping[str, Entry], Generic[Entry]):
    """Names to entries, each with a one-line description.

    Args:
        kind: what an entry is, in the singular (``"loss"``, ``"model"``, ``"data set"``), for
            messages.
        plural: the heading of the list of names in messages (default ``kind + "s"``).
        normalize: turns a name as asked into its key (e.g. ``str.lower``); the identity by default.
        note: a sentence added to the unknown-name message (e.g. that names are case-sensitive).
        listing: where a long list of names would go in that message, e.g. ``"list_models() gives
            all {count} names."``; ``None`` lists the names themselves.
    """

    def __init__(
        self,
        kind: str,
        *,
        plural: str | None = None,
        normalize: Callable[[str], str] | None = None,
        note: str = "",
        listing: str | None = None,
    ) -> None:
        self.kind, self.plural, self.note, self.listing = kind, plural or f"{kind}s", note, listing
        self._normalize = normalize or (lambda name: name)
        self._entries: dict[str, Entry] = {}
        self._descriptions: dict[str, str] = {}

    # ----------------------------------------------------------------------------- adding
    def add(self, name: str, entry: Entry, description: str = "") -> Entry:
        """Hold ``entry`` under ``name``; a second entry under one name is an error (it would shadow)."""
        key = self._normalize(name)
        if key in self._entries:
            raise ValueError(f"a {self.kind} named {name!r} is already registered; pick another name")
        self._entries[key] = entry
        self._descriptions[key] = description
        return entry

    def register(self, name: str, description: str = "") -> Callable[[Entry], Entry]:
        """The decorator form of :meth:`add`: ``@REGISTRY.register("name", "what it is")``."""
        return lambda entry: self.add(name, entry, description)

    # ---------------------------------------------------------------------------- reading
    def key(self, name: object) -> str:
        """The registered key of ``name``; a ``ValueError`` with suggestions if there is none."""
        if not isinstance(name, str):
            raise ValueError(f"a {self.kind} name must be a string such as {next(iter(self), '...')!r}, got {name!r}")
        key = self._normalize(name)
        if key not in self._entries:
            note = f" {self.note}" if self.note else ""
            names = (
                self.listing.format(count=len(self))
                if self.listing is not None
                else f"{self.plural.capitalize()}: {', '.join(self._entries)}"
            )
            raise ValueError(f"unknown {self.kind} {name!r}.{did_you_mean(key, self._entries)}{note} {names}")
        return key

    def __getitem__(self, name: str) -> Entry:
        return self._entries[self.key(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._normalize(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def describe(self, name: str) -> str:
        """The one-line description of ``name``."""
        return self._descriptions[self.key(name)]

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
