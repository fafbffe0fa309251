"""SynthesisPanel: type text, pick a voice (or a blend of two), hear it, see its phonemes and timings.

Layout: text area; voice, optional second voice with a blend slider, speed, language (auto
from the voice, US or GB); Synthesize.  Shows the audio player, the token/phoneme table
(flagged words highlighted), the waveform and spectrogram with word and phoneme spans, and
the voice map with the current voice (or blend) ringed.  "Transcribe it back" runs a CTC model
on the audio and shows the word diff and WER; "Send to session" adds the audio (16 kHz) and
text to ``session.corpus`` as a new utterance and selects it.  ``panel.result`` is the
:class:`~workbench.tts.synthesis.SynthesisResult`, ``panel.roundtrip`` the
:class:`~workbench.tts.roundtrip.RoundTripResult`.  With a session, the voice dropdown follows and
writes ``session.tts_voice``.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from ..data.corpus import Utterance
from ..errors import TextError
from .base import Panel, download_link, empty_state, set_figure, tidy, wav_bytes
from .trust import model_badges

#: figure sizes (inches) for the page: drawn at base.PAGE_DPI, shown at natural size (not stretched)
TIMING_SIZE = (11.0, 5.0)
MAP_SIZE = (7.5, 5.0)

DEFAULT_TEXT = "Kokoro reads this sentence aloud, and the workbench shows when every word was spoken."
NO_VOICE = "(none)"


class SynthesisPanel(Panel):
    """Kokoro synthesis with phonemes, timings, voice map, round trip and hand-off to the session."""

    title = "Synthesis"

    def __init__(self, *, registry=None, session=None, text: str = DEFAULT_TEXT, voice: str | None = None,
                 asr_model: str | None = None, map_row: int | None = None) -> None:
        super().__init__(registry=registry, session=session)
        from ..tts.voice_inspect import DEFAULT_ROW, available_voices

        self.roundtrip = None
        self.map_row = DEFAULT_ROW if map_row is None else map_row
        self._sent = 0
        names = available_voices(registry=self.registry)
        english = [n for n in names if n[:1] in "ab"]
        options = english + [n for n in names if n not in english]
        start = voice or (getattr(session, "tts_voice", None) if session is not None else None) or "af_heart"
        if start not in options and options:
            start = options[0]
        ctc = self.registry.names(kind="ctc")
        asr = asr_model or (getattr(session, "asr_model", None) if session is not None else None) or "w2v2-tiny-ctc"
        if asr not in ctc:
            ctc = [asr, *ctc]

        # --- inputs
        self.text = widgets.Textarea(value=text, placeholder="text to synthesize; [word](/fənˈɛmz/) sets a "
                                     "pronunciation", layout=widgets.Layout(width="100%", height="90px"))
        self.voice = widgets.Dropdown(options=options, value=start if options else None, description="voice")
        self.voice2 = widgets.Dropdown(options=[NO_VOICE, *options], value=NO_VOICE, description="blend with")
        self.blend = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="2nd weight",
                                         continuous_update=False, disabled=True, readout_format=".2f")
        self.speed = widgets.FloatSlider(value=1.0, min=0.5, max=2.0, step=0.05, description="speed",
                                         continuous_update=False, readout_format=".2f")
        self.language = widgets.ToggleButtons(options=[("auto", "auto"), ("US", "en-us"), ("GB", "en-gb")],
                                              value="auto", description="language",
                                              style={"button_width": "60px"})
        self.synth_button = widgets.Button(description="Synthesize", button_style="primary", icon="play")
        self.asr_model = widgets.Dropdown(options=ctc, value=asr, description="ASR model")
        self.transcribe_button = widgets.Button(description="Transcribe it back", icon="refresh", disabled=True)
        self.send_button = widgets.Button(description="Send to session", icon="share",
                                          disabled=True, tooltip="add this audio and text to the session's corpus")
        # --- outputs
        self.summary = widgets.HTML()
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.tokens = widgets.HTML()
        self.timing = widgets.Image(format="png")
        self.voice_map = widgets.Image(format="png")
        self.diff = widgets.HTML()

        self.voice2.observe(lambda ch: setattr(self.blend, "disabled", ch["new"] == NO_VOICE), "value")
        self.voice.observe(self._on_voice, "value")
        self.synth_button.on_click(lambda _: self.start_task(self.synthesize, buttons=(self.synth_button,),
                                                             label="synthesizing"))
        self.transcribe_button.on_click(lambda _: self.start_task(self.transcribe_back,
                                                                  buttons=(self.transcribe_button,),
                                                                  label="transcribing it back"))
        self.empty = empty_state("Type a sentence and press Synthesize: you will hear it, see when each word and "
                                 "phoneme was spoken, and can transcribe it back with the ASR model.")
        self.downloads = widgets.HTML()
        self.map_caption = widgets.HTML()
        self.send_button.on_click(lambda _: self.guarded(self.send_to_session))
        if session is not None:
            session.observe(self._on_session_voice, "tts_voice")

        self.layout = widgets.VBox([
            widgets.HTML(f"<h3>{self.title}</h3>"),
            self.text,
            widgets.HBox([self.voice, self.voice2, self.blend]),
            widgets.HBox([self.speed, self.language]),
            widgets.HBox([self.synth_button, self.asr_model, self.transcribe_button, self.send_button]),
            self.progress_row.box,
            self.status,
            self.empty,
            self.summary,
            self.audio,
            self.downloads,
            self.timing,
            widgets.HBox([widgets.VBox([self.tokens], layout=widgets.Layout(width="45%", max_height="420px",
                                                                             overflow="auto")),
                          widgets.VBox([self.voice_map, self.map_caption])]),
            self.diff,
        ])
        tidy(self.layout)

    # ------------------------------------------------------------------ state
    def voice_spec(self) -> str:
        """The voice as the core takes it: a name, or ``"a:w1,b:w2"`` for a blend."""
        first, second = self.voice.value, self.voice2.value
        if second in (None, NO_VOICE) or second == first or self.blend.value <= 0:
            return first
        if self.blend.value >= 1:
            return second
        w = round(float(self.blend.value), 4)
        return f"{first}:{1 - w:.4g},{second}:{w:.4g}"

    def _on_voice(self, change) -> None:
        if self.session is not None and change["new"]:
            self.session.tts_voice = change["new"]

    def _on_session_voice(self, change) -> None:
        if change.new in self.voice.options and change.new != self.voice.value:
            self.voice.value = change.new

    # ------------------------------------------------------------------ actions
    def synthesize(self):
        """Synthesize the text with the chosen voice, speed and language; fills every view."""
        from ..models.g2p import token_html
        from ..plots.synthesis import plot_timings
        from ..tts.synthesis import synthesize

        self.set_status("synthesizing…")
        language = None if self.language.value == "auto" else self.language.value
        result = synthesize(self.text.value, self.voice_spec(), speed=self.speed.value, language=language,
                            registry=self.registry)
        self.result = result
        self.roundtrip = None
        self.diff.value = ""
        self.audio.value = wav_bytes(result.audio, result.sample_rate)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
        self.summary.value = (f"<b>{html.escape(result.voice)}</b> · {result.language} · speed {result.speed:g} · "
                              f"{result.duration:.2f} s · {len(result.chunks)} chunk(s) · "
                              f"{len(result.flagged)} flagged token(s)" + (f"<ul>{notes}</ul>" if notes else ""))
        self.tokens.value = token_html(result.tokens)
        self.empty.layout.display = "none"
        self.downloads.value = ("<div style='font-size:90%'>"
                                + download_link(wav_bytes(result.audio, result.sample_rate), "synthesized.wav",
                                                mime="audio/wav") + "</div>")
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=TIMING_SIZE)
        set_figure(self.timing, plot_timings(result, kind="both", ax=fig.subplots(2, 1, sharex=True)))
        self._draw_map(result)
        self.transcribe_button.disabled = False
        self.send_button.disabled = self.session is None
        self.set_status(f"synthesized {result.duration:.2f} s", kind="ok")
        return result

    def _draw_map(self, result) -> None:
        from ..plots.voices import plot_voice_map
        from ..tts.voice_inspect import voice_map

        spec = self.voice_spec()
        blends = [spec] if ("," in spec or ":" in spec) else None
        vmap = voice_map(row=self.map_row, blends=blends, registry=self.registry)
        highlight = vmap.coords.name.iloc[-1] if blends else spec
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=MAP_SIZE)
        set_figure(self.voice_map, plot_voice_map(vmap, highlight=highlight, ax=ax))
        self.map_caption.value = (f"<div style='color:#555;font-size:90%;max-width:36em'>Voice map: every voice's "
                                  f"style vector (the one Kokoro uses for a {self.map_row + 1}-phoneme input, row "
                                  f"{self.map_row} of its voice pack) projected to 2-D; near points sound alike. "
                                  f"The ringed point is the voice you chose.</div>")

    def transcribe_back(self):
        """Run the chosen CTC model on the synthesized audio; shows WER and the word diff."""
        from ..tts.roundtrip import transcribe_back

        if self.result is None:
            raise TextError("synthesize something first, then transcribe it back")
        self.set_status(f"transcribing with {self.asr_model.value}…")
        rt = transcribe_back({"synthesized": self.result}, model=self.asr_model.value, registry=self.registry)
        self.roundtrip = rt
        row = rt.per_utterance.iloc[0]
        flagged = ""
        if len(rt.flagged):
            flagged = "<br>G2P-flagged words: " + ", ".join(
                f"{html.escape(str(r.word))} ({html.escape(str(r.op))})" for r in rt.flagged.itertuples())
        timing = ""
        pv = rt.per_voice.iloc[0] if len(rt.per_voice) else None
        if pv is not None and pv.timed_words:
            timing = (f"<br>Kokoro vs CTC word starts: mean |Δ| {pv.start_mae * 1000:.0f} ms over "
                      f"{int(pv.timed_words)} words")
        self.diff.value = (model_badges(self.registry, [rt.model])
                           + f"<b>{html.escape(rt.model)}</b> heard: <code>{html.escape(str(row.hypothesis))}</code>"
                           f"<br>WER {row.wer:.1%} · CER {row.cer:.1%}{flagged}{timing}"
                           + rt.diff("synthesized", html=True))
        self.set_status(f"transcribed back: WER {row.wer:.1%}", kind="ok")
        return rt

    def send_to_session(self) -> str:
        """Add the synthesized audio (16 kHz) and its text as a new utterance of the session's corpus."""
        if self.session is None:
            raise TextError("this panel has no session; build it with SynthesisPanel(session=...)")
        if self.result is None:
            raise TextError("synthesize something first, then send it to the session")
        corpus = self.session.corpus
        existing = set(corpus.ids()) if corpus is not None else set()
        self._sent += 1
        uid = f"synth-{self._sent:04d}"
        while uid in existing:
            self._sent += 1
            uid = f"synth-{self._sent:04d}"
        audio = self.result.resampled(16_000)
        self.session.results["synthesis"] = self.result
        # adds in place, tells every corpus observer (the other panels) and selects the new utterance
        self.session.add_utterance(Utterance(id=uid, array=audio, sample_rate=16_000, text=self.result.plain_text,
                                             speaker=self.result.voice, duration=len(audio) / 16_000,
                                             extra={"source": "kokoro", "speed": self.result.speed}))
        corpus = self.session.corpus
        self.set_status(f"added {uid} to the session's corpus ({len(corpus)} utterances) and selected it", kind="ok")
        return uid
