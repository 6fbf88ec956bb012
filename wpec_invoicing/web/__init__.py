"""The HTTP interfaces: the REST API (`web/api/`) and the operators' console (`web/console/`)."""
