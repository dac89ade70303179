"""Redundancy as finite state, so that a Markov chain can count it. It
follows exactly the rules of fpdsl.sim.redundancy (one CPU): a restore is
redundant when overwritten unread; a save is redundant when its copy is
gone (overwritten or superseded) with no useful restore of it. Only what is
still undecided is remembered:
- live: the unread restore in the registers, if any, and which save it
  loaded ((storage, "cur") while that save is still the storage's copy,
  (storage, "old") once the copy is gone, None if no undecided save);
- copies: storages whose latest save is undecided, with the saved value's
  owner (for supersession)."""

from __future__ import annotations

from fpdsl.model.records import Op

Tracker = tuple  # (live, copies); live = None | (link,), copies = sorted tuple of (storage, owner)
EMPTY: Tracker = (None, ())


def feed(tracker: Tracker, ops: list[Op]) -> tuple[Tracker, int, int]:
    """Apply a transition's operations; return the new tracker and how many
    saves and restores were decided redundant."""
    live, copies_t = tracker
    copies = dict(copies_t)
    red_saves = red_restores = 0

    def overwrite() -> None:
        nonlocal live, red_saves, red_restores
        if live is not None:
            red_restores += 1
            link = live[0]
            if link is not None and link[1] == "old":
                red_saves += 1  # its one outstanding restore was wasted, and its copy is gone
            live = None

    def copy_gone(storage: str) -> None:
        nonlocal live, red_saves
        del copies[storage]
        if live is not None and live[0] == (storage, "cur"):
            live = ((storage, "old"),)
        else:
            red_saves += 1

    for op in ops:
        kind = op.kind
        if kind == "restore":
            overwrite()
            live = ((op.target, "cur") if op.target in copies else None,)
        elif kind == "read":
            if live is not None:
                link = live[0]
                if link is not None and link[1] == "cur":
                    del copies[link[0]]  # decided useful
                live = None
        elif kind == "clobber":
            overwrite()
        elif kind == "write":
            overwrite()
            owner = op.value[0]
            for storage in [s for s, o in copies.items() if o == owner]:
                copy_gone(storage)
        elif kind == "save":
            if op.target in copies:
                copy_gone(op.target)
            copies[op.target] = op.value[0]
    return (live, tuple(sorted(copies.items()))), red_saves, red_restores
