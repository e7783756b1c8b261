"""Light and dark themes: a Qt palette and style sheet for the widgets, and the colours the
pyqtgraph views use (they do not follow the Qt palette by themselves)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    accent: str
    border: str
    plot_background: str
    plot_foreground: str
    grid_alpha: float
    bad_channel: str

    def qcolor(self, attribute: str) -> QColor:
        return QColor(getattr(self, attribute))


LIGHT = Theme(
    name="light", window="#f4f5f7", base="#ffffff", alt_base="#f7f8fa", text="#1f2328",
    muted="#6b7280", accent="#2563eb", border="#d6d9de", plot_background="#ffffff",
    plot_foreground="#374151", grid_alpha=0.25, bad_channel="#c4c8ce",
)
DARK = Theme(
    name="dark", window="#1e2127", base="#16181d", alt_base="#1b1e24", text="#e6e8eb",
    muted="#9aa3ae", accent="#5b9cff", border="#343a44", plot_background="#16181d",
    plot_foreground="#c9d1d9", grid_alpha=0.18, bad_channel="#4a4f58",
)
THEMES = {t.name: t for t in (LIGHT, DARK)}


def _palette(t: Theme) -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: t.window, QPalette.ColorRole.WindowText: t.text,
        QPalette.ColorRole.Base: t.base, QPalette.ColorRole.AlternateBase: t.alt_base,
        QPalette.ColorRole.Text: t.text, QPalette.ColorRole.Button: t.window,
        QPalette.ColorRole.ButtonText: t.text, QPalette.ColorRole.Highlight: t.accent,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: t.base,
        QPalette.ColorRole.ToolTipText: t.text, QPalette.ColorRole.PlaceholderText: t.muted,
        QPalette.ColorRole.Mid: t.border, QPalette.ColorRole.Light: t.base,
        QPalette.ColorRole.Dark: t.border,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(t.muted))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(t.muted))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor(t.muted))
    return p


def _style_sheet(t: Theme) -> str:
    return f"""
    QMainWindow::separator {{ background: {t.border}; width: 1px; height: 1px; }}
    QDockWidget {{ font-weight: 600; }}
    QDockWidget::title {{ background: {t.window}; padding: 6px 8px; border-bottom: 1px solid {t.border}; }}
    QTableView {{ gridline-color: {t.border}; border: none; selection-background-color: {t.accent}; }}
    QHeaderView::section {{ background: {t.window}; color: {t.muted}; border: none;
        border-bottom: 1px solid {t.border}; padding: 4px 6px; font-weight: 600; }}
    QStatusBar {{ border-top: 1px solid {t.border}; }}
    QStatusBar QLabel {{ color: {t.muted}; padding: 0 6px; }}
    QProgressBar {{ border: 1px solid {t.border}; border-radius: 4px; background: {t.base};
        text-align: center; height: 14px; }}
    QProgressBar::chunk {{ background: {t.accent}; border-radius: 3px; }}
    QToolBar {{ border: none; spacing: 4px; padding: 2px; }}
    QToolButton {{ padding: 3px 8px; border-radius: 4px; }}
    QToolButton:checked {{ background: {t.accent}; color: white; }}
    QPushButton {{ padding: 4px 12px; border: 1px solid {t.border}; border-radius: 4px; background: {t.base}; }}
    QPushButton:hover {{ border-color: {t.accent}; }}
    QPushButton#primary {{ background: {t.accent}; color: white; border-color: {t.accent}; font-weight: 600; }}
    QLabel#hint {{ color: {t.muted}; }}
    """


def apply_theme(app: QApplication, name: str) -> Theme:
    """Apply the named theme to the application's widgets and return it (views recolour
    their plots from it)."""
    theme = THEMES.get(name, LIGHT)
    if app.property("bmiss_theme") == theme.name:
        return theme  # re-applying re-polishes every widget of the application: slow
    app.setProperty("bmiss_theme", theme.name)
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(_palette(theme))
    app.setStyleSheet(_style_sheet(theme))
    font = QFont(app.font())
    font.setPointSizeF(max(font.pointSizeF(), 10.0))
    app.setFont(font)
    return theme
