"""The dockable views; each file holds one passive view that draws from the session and
reports what the user asks for."""
