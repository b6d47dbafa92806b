"""The API's routers, one module per resource; `app.create_app` includes them."""
