"""Who may read per-asset data through the API, and which rows they see.

Public market data and aggregates are open to everyone. Per-asset data (bids, settlements, metering,
and the per-asset marts) is scoped by the caller's role, resolved from an API key:

- ``fsp``: the rows of the assets its organisation registered (the registry's ids, matched to
  ``dim_asset.registry_asset_id``: an asset counts once a build has published it);
- ``system_operator``: the rows in the markets its operator runs and of the assets in its area (the
  DNO licence areas of its operator; a national operator's area is all of Great Britain);
- ``admin``: everything;
- ``investor``, ``analyst``: 403, they read the aggregates (``/v1/market-trends``, ...);
- no key: 401.

``current_principal`` is the one FastAPI dependency the scoped routes use; it resolves the key with
``sfe.api.security`` (sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from fastapi import Depends

from sfe import queries, taxonomy
from sfe.api import security
from sfe.api.common import ApiError
from sfe.api.registry_cache import RegistryCache
from sfe.registry import assets as registry_assets
from sfe.registry import db as registry_db
from sfe.registry.access import Principal

AGGREGATE_ROUTES = "/v1/market-trends, /v1/asset-value, /v1/forecast-inputs"


async def current_principal(
    principal: Annotated[Principal | None, Depends(security.optional_principal)],
) -> Principal | None:
    """The caller behind the API key or session token (``sfe.api.security``), None without one.

    Wrong credentials never fall back to anonymous: the security dependency answers 401 for them.
    """
    return principal


Caller = Annotated[Principal | None, Depends(current_principal)]


_asset_ids = RegistryCache()


def registered_asset_ids(principal: Principal) -> tuple[str, ...]:
    """Registry ids of the assets the principal's organisation registered, retired ones included (their
    history stays theirs). Kept only until the registry changes: a new registration counts at once."""

    def read() -> tuple[str, ...]:
        with registry_db.session() as s:
            assets = registry_assets.list_assets(s, principal, include_retired=True)
        return tuple(sorted(a.registry_asset_id for a in assets))

    return _asset_ids.get(("registered_asset_ids", principal), read)


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


def row_scope(principal: Principal | None) -> queries.RowScope:
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
    if principal.is_admin:
        return queries.RowScope(everything=True)
    if role == "fsp":
        return queries.RowScope(
            organisation_id=principal.organisation_id, registry_asset_ids=registered_asset_ids(principal)
        )
    if role == "system_operator":
        operator_id = principal.operator_id
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
