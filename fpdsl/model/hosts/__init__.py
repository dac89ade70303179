"""One module per kernel version's host machinery; a policy's `kernel` line
picks one. Each subclasses the version it grew from and overrides what that
version changed."""

from __future__ import annotations

from fpdsl.model.hosts.v61 import Host61, Host61Prefix
from fpdsl.model.hosts.v416 import Host416
from fpdsl.model.hosts.v418 import Host418
from fpdsl.model.hosts.v612 import Host612, Host6120
from fpdsl.model.machine import Hooks, Machine, ModelConfig
from fpdsl.model.state import World

HOSTS: dict[str, type[Machine]] = {
    "v4.16": Host416,
    "v4.18": Host418,
    "v6.1.134": Host61Prefix,
    "v6.1": Host61,
    "v6.12.0": Host6120,
    "v6.12": Host612,
}


def host_machine(config: ModelConfig, hooks: Hooks, world: World, record: bool = True) -> Machine:
    """The machine of the configured kernel version."""
    return HOSTS[config.kernel](config, hooks, world, record)
