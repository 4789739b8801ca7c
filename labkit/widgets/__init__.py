"""The ipywidgets booking dashboard and its pure HTML rendering."""
