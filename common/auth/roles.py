"""Admin roles and what each may do (SPEC §5).

Three roles, one question per route: is it public, a read, a write, or
platform-wide? The route table (`common.admin.api.routes`) names the access level
of every route, and `allows` is the single place that answers it, so the
role x route matrix in the tests is checked against one function.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Role = Literal["platform_admin", "tenant_admin", "tenant_viewer"]
ROLES: tuple[Role, ...] = ("platform_admin", "tenant_admin", "tenant_viewer")
PLATFORM_ADMIN: Role = "platform_admin"


class Access(StrEnum):
    PUBLIC = "public"  # no token (login, the OpenAPI document)
    READ = "read"  # every role
    WRITE = "write"  # platform_admin and tenant_admin
    PLATFORM = "platform"  # platform_admin only (tenants)


_ALLOWED: dict[Access, frozenset[str]] = {
    Access.PUBLIC: frozenset(ROLES),
    Access.READ: frozenset(ROLES),
    Access.WRITE: frozenset({"platform_admin", "tenant_admin"}),
    Access.PLATFORM: frozenset({"platform_admin"}),
}


def allows(role: str, access: Access) -> bool:
    return role in _ALLOWED[access]


@dataclass(frozen=True)
class Principal:
    """The caller of an admin route, as checked against its user record on every request."""

    user_id: str
    username: str
    role: Role
    tenant_id: str | None  # None for platform admins

    @property
    def is_platform(self) -> bool:
        return self.role == PLATFORM_ADMIN
