"""Who may read per-asset data through the API, and which rows they see.

Public market data and aggregates are open to everyone. Per-asset data (bids, settlements, metering,
and the per-asset marts) is scoped by the caller's role, resolved from an API key:

- ``fsp``: the rows of the assets its organisation registered (``dim_asset.organisation_id``);
- ``system_operator``: the rows in the markets its operator runs and of the assets in its area (the
  DNO licence areas of its operator; a national operator's area is all of Great Britain);
- ``admin``: everything;
- ``investor``, ``analyst``: 403, they read the aggregates (``/v1/market-trends``, ...);
- no key: 401.

``current_principal`` is the one FastAPI dependency that resolves the key; the scoped routes depend
on it. The key itself is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Protocol

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from sfe import queries, taxonomy
from sfe.api.common import ApiError

AGGREGATE_ROUTES = "/v1/market-trends, /v1/forecast-inputs"


class PrincipalLike(Protocol):
    """What scoping needs of ``sfe.registry.access.Principal``."""

    role: str
    organisation_id: int


bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An SFE API key as a bearer token: `Authorization: Bearer <key>`.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="An SFE API key: `X-API-Key: <key>`.",
)


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key a request presents (X-API-Key wins over a bearer token), or None."""
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


async def current_principal(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    x_api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> PrincipalLike | None:
    """The caller behind the API key, or None when the request carries no key.

    Until the registry's key resolver (``sfe.api.security``) is wired in here, no key can be verified:
    a request with a key is refused (401) rather than served as anonymous.
    """
    key = presented_key(f"Bearer {bearer.credentials}" if bearer else None, x_api_key)
    if key is None:
        return None
    raise ApiError(
        401,
        "invalid_api_key",
        "this server cannot verify API keys yet (the registry is not enabled)",
        headers={"WWW-Authenticate": "Bearer"},
    )


Caller = Annotated[PrincipalLike | None, Depends(current_principal)]


@cache
def operator_areas(operator_id: str) -> tuple[str, ...] | None:
    """DNO licence areas of a system operator; None for a national operator (all of Great Britain)."""
    areas = tuple(
        sorted(row["dno_area"] for row in taxonomy.table("dno_areas") if row["operator_id"] == operator_id)
    )
    if areas:
        return areas
    roles = {row["operator_id"]: row["role"] for row in taxonomy.table("operators")}
    return None if roles.get(operator_id) == "system_operator" else ()


def row_scope(principal: PrincipalLike | None) -> queries.RowScope:
    """The rows of per-asset data ``principal`` may read; 401/403 when it may read none."""
    if principal is None:
        raise ApiError(
            401,
            "unauthorized",
            "per-asset data needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`. "
            f"Public aggregates need none: {AGGREGATE_ROUTES}",
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = str(principal.role)
    if role == "admin":
        return queries.RowScope(everything=True)
    if role == "fsp":
        return queries.RowScope(organisation_id=principal.organisation_id)
    if role == "system_operator":
        operator_id = getattr(principal, "operator_id", None)
        if not operator_id:
            raise ApiError(
                403,
                "forbidden",
                "this system-operator account is not linked to an operator yet; an SFE admin links it when "
                "verifying the account",
            )
        return queries.RowScope(operator_id=operator_id, dno_areas=operator_areas(operator_id))
    raise ApiError(
        403,
        "forbidden",
        f"{role} accounts read aggregates only: per-asset data is for the asset's owner, its system "
        f"operator and SFE admins. Aggregates: {AGGREGATE_ROUTES}",
    )
