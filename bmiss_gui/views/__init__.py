"""The dockable views. Each view file holds one passive view: it is given what it draws (a
:class:`~bmiss_gui.views.review_state.ReviewState`, a recording and its arrays) and reports
what the user asks for as intent signals; it never edits anything nor sees the session
(an import-linter contract holds this). ``plotting`` and ``review_state`` serve them all."""
