"""The taxonomy: products with data, markets, assets, participants, the settlement calendar."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from sfe import queries
from sfe.api import datasets, schemas
from sfe.api.common import DB, Format, error_responses, table_response, tabular_content
from sfe.api.routes.tables import add_table_routes

router = APIRouter()


@router.get(
    "/v1/products",
    tags=[datasets.TAXONOMY],
    summary="Products with data",
    response_model=schemas.ProductsList,
    responses={200: tabular_content(), **error_responses(422, 429, 503)},
)
def products(db: DB, format: Format = "json") -> Response:
    """Every product that has auction results or dispatches, with its market, standard product and
    row counts."""
    return table_response(queries.products_with_data(db), format, "products")


add_table_routes(router, datasets.by_tag(datasets.TAXONOMY))
