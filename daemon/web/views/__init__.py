"""One module per page family; each handler renders a page or its JSON twin (``daemon/web/app.py`` wires the routes)."""
