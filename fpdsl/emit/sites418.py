"""Sites of the v4.18-v4.20 layout (target v4.18)."""

from __future__ import annotations

from fpdsl.emit.sites2018 import Sites2018


class Sites418(Sites2018):
    pass
