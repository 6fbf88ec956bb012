"""The console's pages, one module per area; each route declares its role with `need(...)`."""
