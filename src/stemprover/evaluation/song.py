"""Song mode in evaluation: a pipeline that enhances each stem with its mixture and then makes
the song's outputs consistent with the mixture, as ``stemprover enhance SONG --consistent``
does, scored one stem at a time like every other system."""

from __future__ import annotations

import numpy as np

from stemprover.consistency import project


class ConsistentSong:
    """``pipeline`` over every stem of a pair's song, then the mixture-consistency projection.

    Each stem is enhanced once per song (cached), so scoring the song's four pairs costs four
    enhancements.
    """

    wants_song = True  # evaluate passes the song's name and its other stems

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    @property
    def model_reads_mixture(self) -> bool:
        return self.pipeline.model_reads_mixture

    def _enhanced(self, song: str, stem: str, audio, rate, mix) -> np.ndarray:
        key = (song, stem)
        if key not in self._cache:
            self._cache[key] = self.pipeline(audio, rate, mix=mix, stem=stem)
        return self._cache[key]

    def __call__(self, audio, rate, mix=None, stem=None, song=None, siblings=()):
        own = self.pipeline(audio, rate, mix=mix, stem=stem)
        if mix is None or not siblings or song is None:
            return own
        self._cache[(song, stem)] = own
        others = [self._enhanced(song, s, x, rate, mix) for x, s in siblings]
        return project(np.stack([own, *others]), mix)[0]


def as_enhance_runs(pipeline):
    """``pipeline`` as ``stemprover enhance SONG_FOLDER`` runs it: the song's stems together
    (:class:`JointSong`) with the song filter, in song mode (:class:`SongMode`) when its
    model reads the other stems, else as it is."""
    if getattr(pipeline, "joint_song", False):
        return JointSong(pipeline)
    return SongMode(pipeline) if pipeline.model_reads_siblings else pipeline


class JointSong:
    """``pipeline.enhance_song`` over the pair's whole song (each song enhanced once, its
    stems kept until the next song), scored one stem at a time."""

    wants_song = True

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline
        self._song: tuple | None = None
        self._stems: dict[str, np.ndarray] = {}

    @property
    def model_reads_mixture(self) -> bool:
        return self.pipeline.model_reads_mixture

    def __call__(self, audio, rate, mix=None, stem=None, song=None, siblings=()):
        if mix is None or not siblings or song is None:
            return SongMode(self.pipeline)(audio, rate, mix, stem, song, siblings)
        names = (stem, *(s for _, s in siblings))
        key = (song, frozenset(names), audio.shape)
        if self._song != key:
            stems = [audio, *(x for x, _ in siblings)]
            out = self.pipeline.enhance_song(stems, rate, mix, names=list(names))
            self._song, self._stems = key, dict(zip(names, out, strict=True))
        return self._stems[stem]


class SongMode:
    """``pipeline`` given each pair's mixture and its song's other separated stems, as
    ``stemprover enhance SONG_FOLDER`` gives them to a model that reads them."""

    wants_song = True

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    @property
    def model_reads_mixture(self) -> bool:
        return self.pipeline.model_reads_mixture

    def __call__(self, audio, rate, mix=None, stem=None, song=None, siblings=()):
        others = [x for x, _ in siblings] if mix is not None else []
        return self.pipeline(audio, rate, mix=mix, stem=stem, siblings=others)
