"""The API's routers, one module per area; ``sfe.api.app.create_app`` includes them."""
