"""The user guide and its screenshots, which the application's Help → User guide shows.
Installed as the data package ``bmiss_docs``; read through :func:`bmiss_engine.resources.bundled_path`."""
