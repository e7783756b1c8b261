"""The files BMISS ships: the demo recording (and its ground truth), the demo MRI and the
surrogate forward model's weights. Installed as the data package ``bmiss_resources``; read them
through :func:`bmiss_engine.resources.bundled_path`, never by path from the source tree."""
