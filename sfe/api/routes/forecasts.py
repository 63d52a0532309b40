"""Third-party forecasts (UC28): a forecaster posts its revenue forecast as CSV; everyone can read them.

The same module (``sfe.forecasts``) backs the Asset value page's upload, so a forecast posted here is
shown there beside the history, labelled with its provider.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from sfe import forecasts
from sfe.api.common import error_response, error_responses, table_response, tabular_content
from sfe.api.security import AUTH_RESPONSES, CurrentPrincipal
from sfe.registry.access import AccessDenied, NotFound

router = APIRouter()

MAX_UPLOAD_BYTES = forecasts.MAX_BYTES
Format = Annotated[Literal["json", "csv", "parquet"], Query(description="Response format.")]
Provider = Annotated[str | None, Query(description="Only this provider's forecast.", max_length=200)]

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The forecast as CSV (UTF-8). Columns and an example: see the Asset value page's "
        "template; one provider per file; a new upload replaces that provider's previous forecast.",
        "content": {"text/csv": {"schema": {"type": "string"}, "example": forecasts.EXAMPLE_CSV}},
    }
}


@router.get(
    "/v1/forecasts",
    tags=["forecasts"],
    summary="Uploaded third-party forecasts",
    responses={200: tabular_content(), **error_responses(422)},
)
def list_forecasts(provider: Provider = None, format: Format = "json") -> Response:
    """Every stored forecast row (or one provider's), with who uploaded it and when."""
    try:
        frame = forecasts.load(provider or None)
    except ValueError as exc:  # a provider name with no letters or digits
        return error_response(422, "invalid_request", f"query parameter 'provider': {exc}")
    return table_response(frame, format, "forecasts")


@router.post(
    "/v1/forecasts",
    tags=["forecasts"],
    summary="Upload (replace) a provider's forecast",
    status_code=201,
    responses={**AUTH_RESPONSES, **error_responses(422), 413: {"description": "The upload is too large."}},
    openapi_extra=_UPLOAD_BODY,
)
async def upload_forecast(request: Request, principal: CurrentPrincipal) -> Response:
    """Validate the CSV and store it; 422 lists every problem with its line, field and value (nothing
    is stored then). Providers, investors and analysts may upload; only the organisation that uploaded
    a provider's forecast (or an admin) may replace it."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            return error_response(413, "too_large", f"a forecast upload is at most {MAX_UPLOAD_BYTES} bytes")
    name = request.headers.get("x-filename", "upload.csv")[:200]
    try:
        result = forecasts.upload(bytes(body), principal, name)
    except forecasts.ForecastRejected as exc:
        return error_response(422, "forecast_rejected", str(exc), exc.as_frame().to_dicts())
    except AccessDenied as exc:
        return error_response(403, "forbidden", str(exc))
    body = {"provider": result.provider, "rows": result.rows, "replaced_rows": result.replaced_rows}
    return Response(json.dumps(body), status_code=201, media_type="application/json")


@router.delete(
    "/v1/forecasts/{provider}",
    tags=["forecasts"],
    summary="Delete a provider's forecast",
    responses={
        **AUTH_RESPONSES,
        **error_responses(422),
        404: {"description": "No forecast from that provider."},
    },
)
def delete_forecast(provider: str, principal: CurrentPrincipal) -> Response:
    """Only the organisation that uploaded it, or an admin."""
    try:
        removed = forecasts.delete(provider, principal)
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except AccessDenied as exc:
        return error_response(403, "forbidden", str(exc))
    except ValueError as exc:
        return error_response(422, "invalid_request", str(exc))
    return Response(f'{{"removed_rows": {removed}}}', media_type="application/json")
