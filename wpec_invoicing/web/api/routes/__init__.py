"""One router per resource; each route is a few lines calling `app/`."""
