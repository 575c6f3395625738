"""Which model Segment runs: the bundled tier (Fast or Accurate) for the patient, or one the user loaded.

One part of :class:`~brats_desktop.app.inference.controller.SegmentController`: File →
Load Model… / Recent Models / Use Bundled Model, and Model Information…. ``models`` (and
torch) are imported when a model is first needed, not when the window is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QDialog

from brats_desktop.app.inference.model_info_dialog import ModelInfoDialog
from brats_desktop.app.inference.settings_keys import MAX_RECENT_MODELS, MODEL_DIR_KEY, RECENT_MODELS_KEY


class ModelChoiceMixin:
    """Model loading and the model menus (mixed into SegmentController)."""

    @property
    def model(self) -> Any:
        """What a Run would use now: the checkpoint loaded by the user, else the bundled tier
        (a :class:`models.tiers.Tier`, which names itself, its files and inputs like a model)."""
        return self.model_for(self._state.patient)

    @property
    def user_model(self) -> Any:
        """The checkpoint chosen with File → Load Model… in this session, or None."""
        return self._user_model

    def model_for(self, patient: Any) -> Any:
        """User-loaded model, else the bundled tier Segment → Accurate chooses, loaded for ``patient``
        (:func:`models.tiers.load_tier`: the any-sequence model stands in when the patient lacks a
        sequence the tier needs). Called from Segment All's thread too."""
        from models.tiers import load_tier

        if self._user_model is not None:
            return self._user_model
        return load_tier(self.resolved_tier(), patient, self._bundled_cache)

    def resolved_tier(self) -> str:
        """"fast" or "accurate" for the next run: the menu's choice, else by the device a run would use."""
        from models.runtime import select_device
        from models.tiers import resolve_tier

        return resolve_tier(self.tier_request, select_device("auto", self.force_cpu))

    def load_model(self, path: Path | str | None = None) -> Any:
        """File → Load Model…: use another checkpoint for this session and show its metadata."""
        from models.checkpoint import BUNDLED_DIR, ModelLoadError, load_model

        if path is None:
            last = str(self._settings.value(MODEL_DIR_KEY, "") or "")
            start = Path(last) if last and Path(last).is_dir() else BUNDLED_DIR
            path = self._dialogs.open_file(
                self._window, "Load Model", start, "BraTS Desktop model (*.pt);;All files (*)"
            )
            if path is None:
                return None
        try:
            model = load_model(Path(path))
        except ModelLoadError as exc:
            self._dialogs.error(self._window, "Cannot load model", str(exc))
            return None
        self._user_model = model
        self._settings.setValue(MODEL_DIR_KEY, str(Path(path).resolve().parent))
        self._remember_model(Path(path))
        self._settings.sync()
        self.bundled_model_action.setEnabled(True)
        self.model_changed.emit(model)
        self._status(f"Model {model.name} loaded from {Path(path).name}", 8000)
        self.show_model_info()
        return model

    def use_bundled_model(self) -> Any:
        """File → Use Bundled Model: forget the loaded checkpoint; runs pick among the bundled models again."""
        from models.checkpoint import ModelLoadError

        self._user_model = None
        self.bundled_model_action.setEnabled(False)
        try:
            model = self.model
        except ModelLoadError as exc:
            self._dialogs.error(self._window, "Cannot load model", str(exc))
            return None
        self.model_changed.emit(model)
        self._status(f"Using the bundled model {model.name}", 8000)
        return model

    def recent_models(self) -> list[Path]:
        """Checkpoints loaded with File → Load Model…, newest first (only those still on disk)."""
        value = self._settings.value(RECENT_MODELS_KEY, [])
        if isinstance(value, str):  # QSettings returns a lone string for one-item lists
            value = [value]
        return [Path(v) for v in (value or []) if Path(v).is_file()]

    def _remember_model(self, path: Path) -> None:
        from models.checkpoint import BUNDLED_DIR

        path = path.resolve()
        if path.parent == BUNDLED_DIR.resolve():
            return  # the bundled models have their own entry
        items = [path] + [p for p in self.recent_models() if p != path]
        self._settings.setValue(RECENT_MODELS_KEY, [str(p) for p in items[:MAX_RECENT_MODELS]])

    def _fill_recent_models_menu(self) -> None:
        self.recent_models_menu.clear()
        models = self.recent_models()
        for path in models:
            action = self.recent_models_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.setData(str(path))
            action.triggered.connect(lambda _=False, p=path: self.load_model(p))
        if not models:
            self.recent_models_menu.addAction("(none)").setEnabled(False)
        self.recent_models_menu.setToolTipsVisible(True)

    def tier_rows(self, model: Any = None) -> list[tuple[str, str]]:
        """Model Information's rows about the tiers: each with its models, and which the next Run uses."""
        from models.tiers import tier_summaries

        rows = []
        for title, tta, members, description in tier_summaries():
            rows.append((f"{title} tier", "\n".join([description, *(f"• {m}" for m in members),
                                                      f"test-time augmentation: {tta}"])))
        if self._user_model is not None:
            rows.append(("Next Run", f"the loaded checkpoint {self._user_model.name} "
                         f"({'flip TTA' if self.tta == 'flip' else 'TTA by device'}); "
                         "File → Use Bundled Model goes back to the tiers"))
        elif model is not None and hasattr(model, "details"):
            rows.append(("Next Run", model.details()))
        return rows

    def show_model_info(self) -> QDialog | None:
        """Non-modal dialog with the checkpoint's metadata (modalities, training, metrics, licence)."""
        from models.checkpoint import ModelLoadError

        try:
            model = self.model
        except ModelLoadError as exc:
            self._dialogs.error(self._window, "Cannot load model", str(exc))
            return None
        if self.info_dialog is not None:
            self.info_dialog.close()
            self.info_dialog.deleteLater()
        self.info_dialog = ModelInfoDialog(getattr(model, "primary", model), self._window,
                                           self.prediction_meaning() or self.ncr_definition,
                                           tiers=self.tier_rows(model))
        self.info_dialog.show()
        return self.info_dialog
