"""Each visitor's taught handwriting, held for the Predict tab: memory only, per token, bounded.

`mnistsum.handwriting.Handwriting` is one person's drawings and the model adapted to them;
this keeps one per visitor, on top of `demo.state.VisitorModels` (the model they chose).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from mnistsum.handwriting import KEEP, Handwriting, warm
from mnistsum.predictor import Predictor

from .state import ModelSlot, ServedModel, VisitorModels

# A held handwriting used within this long is never pushed out by a newcomer: a new visitor is
# told to wait instead, so a script's "It was 1" calls cannot evict a class's lessons.
IDLE_S = 15 * 60
CAPACITY = 64  # visitors' handwriting held at once (a class of 30 and room to spare)


class VisitorHandwriting:
    """Each visitor's taught handwriting (`mnistsum.handwriting.Handwriting`): memory only, never
    written anywhere, for at most `capacity` visitors, least recently used dropped first.

    It sits on top of `models`: a visitor's predictions use their own model (shipped or trained)
    adapted to their drawings, and when that model changes the drawings are learned again on
    top of the new one. Visitors without a lesson, and API callers, get `models`' answer as is.
    """

    def __init__(
        self,
        models: VisitorModels,
        capacity: int = CAPACITY,
        keep: int = KEEP,
        data_dir: str | None = None,
    ) -> None:
        self.models = models
        self.capacity = capacity
        self.keep = keep
        self.data_dir = data_dir  # MNIST, for the replay and the forgetting check (default: MNISTSUM_DATA)
        self._warmed: Predictor | None = None
        self._lock = threading.Lock()
        self._held: collections.OrderedDict[str, Handwriting] = collections.OrderedDict()
        self._used: dict[str, float] = {}  # token -> when its handwriting was last used (time.monotonic)
        self._dropped: set[str] = set()
        self._lessons: dict[str, threading.Lock] = {}  # one adaptation at a time per visitor

    @property
    def default(self) -> ModelSlot:
        return self.models.default

    def current(self, token: str | None) -> Handwriting | None:
        """This visitor's handwriting on the model they use now (learned again if it changed)."""
        if not token:
            return None
        served = self.models.for_visitor(token)
        with self._lock:
            held = self._held.get(token)
            if held is not None:
                self._held.move_to_end(token)
        if held is None or served.predictor is None or held.base is served.predictor:
            return held
        with self._lesson(token):  # their model changed (a finished run, Reset): learn the drawings again
            held = self._held.get(token, held).on(served.predictor)
            self._store(token, held)
        return held

    def for_visitor(self, token: str | None) -> ServedModel:
        """The model this visitor's predictions use: `models`' one, adapted to their drawings."""
        served = self.models.for_visitor(token)
        held = self.current(token)
        if held is None and token in self._dropped:
            notice = (
                f"your handwriting was dropped from memory (this server keeps {self.capacity} visitors' at a "
                "time): teach it again"
            )
            return served._replace(source=f"{served.source}; {notice}", notice=served.notice or notice)
        if held is None or held.adapted is None or served.predictor is None:
            return served
        return served._replace(predictor=held.adapted, numbers=None)  # the shipped numbers are not its own

    def teach(self, token: str | None, drawings: list[Any], digits: list[Any]) -> Handwriting:
        """Add these labelled drawings to the visitor's handwriting and adapt once; ValueError
        (with the reason) for a missing token or model, or an unusable drawing or digit."""
        if not token:
            raise ValueError("no visitor token: reload the page")
        served = self.models.for_visitor(token)
        if served.predictor is None:
            raise ValueError(f"No model is loaded. {served.error}")
        self._check_room(token)
        with self._lesson(token):
            held = self._held.get(token) or Handwriting(served.predictor, keep=self.keep, data_dir=self.data_dir)
            held = held.on(served.predictor).taught(drawings, digits)
            self._store(token, held)
        return held

    def forget(self, token: str | None) -> None:
        """Back to the visitor's model as it was: their drawings and the adapted model are let go."""
        with self._lock:
            self._held.pop(token, None)
            self._dropped.discard(token)

    def warm_up(self) -> None:
        """Compute the default model's replay features in the background, once per model (a page
        load calls it), so the first correction is answered as fast as the others."""
        predictor = self.models.default.predictor
        if predictor is None or predictor is self._warmed:
            return
        self._warmed = predictor
        threading.Thread(target=warm, args=(predictor, self.data_dir), daemon=True, name="warm-handwriting").start()

    def _check_room(self, token: str) -> None:
        """A newcomer when every place is held by someone active in the last `IDLE_S`: refused (ValueError)."""
        with self._lock:
            if token in self._held or len(self._held) < self.capacity:
                return
            oldest = next(iter(self._held))
            if time.monotonic() - self._used.get(oldest, 0.0) >= IDLE_S:
                return
        raise ValueError(
            f"this server holds {self.capacity} visitors' handwriting, all taught in the last "
            f"{IDLE_S // 60} minutes; try again in a few minutes"
        )

    def _lesson(self, token: str) -> threading.Lock:
        with self._lock:
            return self._lessons.setdefault(token, threading.Lock())

    def _store(self, token: str, held: Handwriting) -> None:
        with self._lock:
            self._held[token] = held
            self._held.move_to_end(token)
            self._used[token] = time.monotonic()
            self._dropped.discard(token)
            while len(self._held) > self.capacity:
                gone, _ = self._held.popitem(last=False)
                self._used.pop(gone, None)
                self._lessons.pop(gone, None)
                self._dropped.add(gone)
