"""Stand-in tree of 4.19 (4.19.95), target v4.18: the v4.18 layout's files
(tests/standin418.py, modelled on 4.19.95) with the top Makefile's
PATCHLEVEL 19, the only structural difference the check finds."""

from __future__ import annotations

import standin418


def files() -> dict[str, str]:
    out = dict(standin418.files())
    old, new = "\nPATCHLEVEL = 18\n", "\nPATCHLEVEL = 19\n"
    assert out["Makefile"].count(old) == 1, "standin418's Makefile no longer says PATCHLEVEL = 18"
    out["Makefile"] = out["Makefile"].replace(old, new)
    return out
