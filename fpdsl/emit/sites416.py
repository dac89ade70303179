"""Sites of the v4.15-v4.17 layout (target v4.16)."""

from __future__ import annotations

from fpdsl.emit.sites2018 import Sites2018


class Sites416(Sites2018):
    pass
