"""Who is calling the API: FastAPI dependencies for API keys and login sessions.

Credentials (both declared as OpenAPI security schemes, so /docs has an "Authorize" button):

* ``Authorization: Bearer <token>``: an API key (``sfe_…``, Account page or ``POST`` of a key) or the
  session token that ``POST /v1/auth/login`` returns;
* ``X-API-Key: <key>``: an API key.

No credentials means anonymous (``optional_principal`` gives None); *wrong* credentials are never
treated as anonymous: they answer 401 with a JSON error, so a revoked key fails loudly instead of
silently seeing only public data.

Wire-up in the app: ``security.install(app)`` registers the error handler that renders
``AuthError`` as ``{"error": code, "message": text}`` (the API's error style) with the
``WWW-Authenticate`` header. Routes then take one of::

    me: CurrentPrincipal                                   # any signed-in caller, else 401
    me: OptionalPrincipal                                  # None when anonymous
    me: Annotated[Principal, Depends(require_roles(Role.FSP))]   # 403 for other roles
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sfe.api import schemas
from sfe.api.registry_cache import RegistryCache, secret_key
from sfe.registry import api_keys, identity
from sfe.registry.access import ROLE_LABELS, Principal, Role

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`sfe_…`) or the session token returned by `POST /v1/auth/login`.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (`sfe_…`), created on the app's Account page.",
)

# Verified API keys, kept until the registry changes (a revocation fails at the next request).
verified_keys = RegistryCache()

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sfe"'}
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorBody, "description": "Missing, invalid, revoked or expired credentials."},
    403: {"model": schemas.ErrorBody, "description": "The account's role may not use this route."},
}


class AuthError(StarletteHTTPException):
    """401/403 with an SFE error code; rendered by the handler ``install`` registers."""

    def __init__(self, status_code: int, error: str, message: str):
        super().__init__(status_code, detail=message, headers=_CHALLENGE if status_code == 401 else None)
        self.error = error
        self.message = message


async def _auth_error(request: Request, exc: AuthError) -> Response:
    return Response(
        json.dumps({"error": exc.error, "message": exc.message}),
        status_code=exc.status_code,
        media_type="application/json",
        headers=exc.headers,
    )


def install(app: FastAPI) -> None:
    """Render AuthError in the API's error style (call once when building the app)."""
    app.add_exception_handler(AuthError, _auth_error)


async def optional_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal | None:
    """The caller, or None when the request carries no credentials. Bad credentials: 401.

    A coroutine, so that a key verified before costs no thread hand-off; registry reads (a key not
    verified since the registry changed, a session token) run in the threadpool.
    """
    authorization = request.headers.get("Authorization")
    if authorization and bearer is None:
        raise AuthError(
            401,
            "invalid_authorization",
            "The Authorization header must be 'Bearer <API key or session token>'.",
        )
    bearer_token = bearer.credentials.strip() if bearer else None
    header_key = header_key.strip() if header_key else None
    if bearer_token and header_key and bearer_token != header_key:
        raise AuthError(401, "invalid_authorization", "Send one credential: Authorization or X-API-Key.")
    credential = header_key or bearer_token
    if not credential:
        return None
    if header_key or credential.startswith(api_keys.KEY_PREFIX):
        principal = await verified_keys.aget(
            secret_key("api_key", credential),
            lambda: api_keys.authenticate(credential),
            keep=lambda found: found is not None,
        )
        if principal is None:
            raise AuthError(
                401,
                "invalid_api_key",
                "The API key is not valid: it is unknown, revoked, or its account is not active. "
                "Create a new key on the Account page of the SFE app.",
            )
        return principal
    principal = await run_in_threadpool(identity.session_principal, credential)
    if principal is None:
        raise AuthError(
            401,
            "invalid_token",
            "The bearer token is not valid or its session has expired; log in again "
            "(POST /v1/auth/login) or use an API key.",
        )
    return principal


async def require_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    """The caller; 401 when anonymous."""
    if principal is None:
        raise AuthError(
            401,
            "authentication_required",
            "This route needs credentials: 'Authorization: Bearer <API key or session token>' "
            "or 'X-API-Key: <API key>'.",
        )
    return principal


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting callers with one of ``roles`` (admins always); 403 for others."""
    allowed = ", ".join(ROLE_LABELS[r] for r in roles)

    async def dependency(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
        if principal.role not in roles and not principal.is_admin:
            raise AuthError(
                403,
                "forbidden",
                f"This route is for {allowed} accounts; yours is {ROLE_LABELS[principal.role]}.",
            )
        return principal

    return dependency


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
