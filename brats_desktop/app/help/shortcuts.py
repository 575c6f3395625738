"""Every shortcut and mouse gesture of the window, read from the running application.

The keyboard reference is generated, not written: it walks the window's QActions
(menus and their submenus, tool bars, actions added to the window or to any widget
inside it), so a feature that adds an action with a shortcut shows up without touching
this file. An action added nowhere is left out: Qt does not run its shortcut either. Mouse gestures come from the
constants kept beside the code that implements them: ``slice_view.MOUSE_GESTURES``
for the views, and a ``GESTURES`` class attribute on each :class:`ViewTool` subclass
(the paint tool, the ruler ...).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar, QWidget

from brats_desktop.app.views.slice_view import MOUSE_GESTURES, ViewTool

MENU_SEPARATOR = " › "
WINDOW_KEYS = "Keys (anywhere in the window)"
# An action may name its own section (``action.setProperty(HELP_SECTION, "Annotate")``),
# e.g. single-key actions that live on the window rather than in a menu.
HELP_SECTION = "help_section"


@dataclass(frozen=True)
class ShortcutEntry:
    """One key sequence of one action, where the user finds the action."""

    keys: str  # portable text, e.g. "Ctrl+Shift+S"
    native: str  # as the platform writes it (⌘ on macOS)
    command: str  # the action's text without mnemonics
    where: str  # "File", "Segment › Label 1 (Necrosis) Means", "Tool bar Segment", ...
    action: QAction


@dataclass(frozen=True)
class GestureEntry:
    """A mouse gesture (or a view's own key) and what it does, with where it applies."""

    gesture: str
    effect: str
    where: str


def clean_text(text: str) -> str:
    """Menu text as the user reads it: mnemonics (&) removed, && kept as &."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").strip()


def _menu_actions(menu: QMenu, path: str, out: list[tuple[QAction, str]]) -> None:
    for action in menu.actions():
        sub = action.menu()
        if sub is not None:
            _menu_actions(sub, path + MENU_SEPARATOR + clean_text(action.text()), out)
        elif not action.isSeparator():
            out.append((action, path))


def _located_actions(window: QMainWindow) -> list[tuple[QAction, str]]:
    """(action, where) for every action reachable in the window, menus first; duplicates kept."""
    found: list[tuple[QAction, str]] = []
    for top in window.menuBar().actions():
        if top.menu() is not None:
            _menu_actions(top.menu(), clean_text(top.text()), found)
    for bar in window.findChildren(QToolBar):
        for action in bar.actions():
            found.append((action, f"Tool bar {bar.windowTitle()}".strip()))
    for action in QWidget.actions(window):
        found.append((action, WINDOW_KEYS))
    for widget in window.findChildren(QWidget):
        if isinstance(widget, (QMenu, QToolBar)):
            continue
        for action in QWidget.actions(widget):  # unbound: some widgets shadow .actions
            found.append((action, _widget_place(widget)))
    return found


def _widget_place(widget: QWidget) -> str:
    """The dock title (or window) a widget-level action belongs to."""
    w: QWidget | None = widget
    while w is not None:
        if w.metaObject().className() == "QDockWidget":
            return f"{w.windowTitle()} dock"
        w = w.parentWidget()
    return WINDOW_KEYS


def shortcut_entries(window: QMainWindow) -> list[ShortcutEntry]:
    """One entry per (action, key sequence) with a shortcut, each action once, at its first place."""
    seen: set[int] = set()
    entries: list[ShortcutEntry] = []
    for action, where in _located_actions(window):
        if id(action) in seen or action.isSeparator():
            continue
        shortcuts = [s for s in action.shortcuts() if not s.isEmpty()]
        if not shortcuts:
            continue
        seen.add(id(action))
        where = str(action.property(HELP_SECTION) or where)
        command = clean_text(action.text()) or clean_text(action.toolTip()) or action.objectName()
        for seq in shortcuts:
            entries.append(ShortcutEntry(
                seq.toString(QKeySequence.SequenceFormat.PortableText),
                seq.toString(QKeySequence.SequenceFormat.NativeText),
                command, where, action,
            ))
    return entries


def shortcut_conflicts(entries: list[ShortcutEntry]) -> dict[str, list[ShortcutEntry]]:
    """Key sequences bound to more than one action: Qt then runs none of them ("ambiguous").

    Actions of one exclusive group or one action listed twice are not conflicts.
    """
    by_key: dict[str, list[ShortcutEntry]] = defaultdict(list)
    for entry in entries:
        by_key[entry.keys].append(entry)
    return {k: v for k, v in by_key.items() if len({id(e.action) for e in v}) > 1}


def _tool_classes(cls: type = ViewTool) -> list[type]:
    out: list[type] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_tool_classes(sub))
    return out


def gesture_entries(window: QWidget | None = None) -> list[GestureEntry]:
    """The slice views' gestures, each mouse tool's, then any widget's in ``window``.

    A tool class (:class:`ViewTool` subclass) or widget class declares its own with a
    ``GESTURES`` tuple of (gesture, effect) pairs and a ``TITLE`` naming where they apply.
    """
    entries = [GestureEntry(g, e, "Slice views") for g, e in MOUSE_GESTURES]
    seen: set[int] = {id(MOUSE_GESTURES)}
    classes: list[type] = _tool_classes()
    if window is not None:
        classes += [type(w) for w in window.findChildren(QWidget)]
    for cls in classes:
        gestures = getattr(cls, "GESTURES", ())
        if not gestures or id(gestures) in seen:
            continue
        seen.add(id(gestures))
        where = getattr(cls, "TITLE", cls.__name__)
        entries.extend(GestureEntry(g, e, where) for g, e in gestures)
    return entries
