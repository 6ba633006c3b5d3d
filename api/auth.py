"""Back-office roles: API keys from `settings.auth.api_keys`, each granting one role.

A key arrives as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. What each role may do:

| permission | what | staff | auditor | admin |
|---|---|---|---|---|
| read  | list and search calls, a call's state and transcript, the live stream, claims | yes | yes | yes |
| act   | staff actions on a live call (hang up) | yes | no | yes |
| audit | export histories and records, replay, verify hashes | no | yes | yes |
| admin | everything | no | no | yes |

Route signatures say what they need with `CurrentReader`, `CurrentStaff` (act), `CurrentAuditor`
(audit) or `CurrentAdmin`. No key or an unknown key is 401 (`missing_api_key` / `invalid_api_key`);
a key whose role lacks the permission is 403 (`forbidden_role`). Keys are compared in constant time
and never logged; only the key's `name` is. The ACS/Event Grid webhooks are not behind roles: they
keep their own authentication (`?key=` for Event Grid, the signed `token` for callbacks).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SettingsDep
from switchboard.settings import Role

MISSING_API_KEY = "missing_api_key"
INVALID_API_KEY = "invalid_api_key"
FORBIDDEN_ROLE = "forbidden_role"

READ_ROLES: frozenset[Role] = frozenset({"staff", "auditor", "admin"})
ACT_ROLES: frozenset[Role] = frozenset({"staff", "admin"})
AUDIT_ROLES: frozenset[Role] = frozenset({"auditor", "admin"})
ADMIN_ROLES: frozenset[Role] = frozenset({"admin"})

# Declared as security schemes in OpenAPI; `auto_error=False` so we answer with our own details.
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="A back-office API key.")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name (safe to log) and its role."""

    name: str
    role: Role


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def authenticate(
    settings: SettingsDep,
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    presented = api_key or (bearer.credentials if bearer is not None else None)
    if not presented:
        raise _unauthorized(MISSING_API_KEY)
    found: Principal | None = None
    for configured in settings.auth.api_keys:
        # Check every key (no early exit) so timing does not tell which one nearly matched.
        if hmac.compare_digest(configured.key.get_secret_value().encode(), presented.encode()):
            found = Principal(name=configured.name, role=configured.role)
    if found is None:
        raise _unauthorized(INVALID_API_KEY)
    return found


def _require(roles: frozenset[Role]) -> Callable[[Principal], Principal]:
    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=FORBIDDEN_ROLE)
        return principal

    return dependency


CurrentReader = Annotated[Principal, Depends(_require(READ_ROLES))]
CurrentStaff = Annotated[Principal, Depends(_require(ACT_ROLES))]
CurrentAuditor = Annotated[Principal, Depends(_require(AUDIT_ROLES))]
CurrentAdmin = Annotated[Principal, Depends(_require(ADMIN_ROLES))]
