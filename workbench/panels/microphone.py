"""A microphone button for the browser (anywidget): records mono PCM with the Web Audio API and
hands ``(samples, sample_rate)`` to Python, so your own voice goes straight into the session.

The browser asks for the microphone on the first press (pages on ``http://127.0.0.1`` or
``localhost`` count as secure, so ``getUserMedia`` is allowed).  The recording is sent as raw
float32 samples at the browser's sample rate (no codec to decode); the corpus resamples it to
the model's rate like any other audio.  ``max_seconds`` stops a forgotten recording.
"""
from __future__ import annotations

from typing import Callable

import anywidget
import numpy as np
import traitlets

_ESM = r"""
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "wb-mic-button jupyter-button";
  const info = document.createElement("span");
  info.className = "wb-mic-info";
  el.classList.add("wb-mic");
  el.append(button, info);
  let ctx = null, stream = null, node = null, source = null, chunks = [], started = 0, timer = null;

  const show = () => {
    const rec = model.get("recording");
    button.textContent = rec ? "■ Stop" : "● Record";
    button.title = rec ? "stop and transcribe" : "record from the microphone (your own voice into the session)";
    button.disabled = model.get("busy") && !rec;
    info.textContent = model.get("message");
  };
  model.on("change:recording", show);
  model.on("change:busy", show);
  model.on("change:message", show);
  show();

  async function start() {
    try {
      const raw = { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false };
      stream = await navigator.mediaDevices.getUserMedia({ audio: raw });
    } catch (err) {
      model.set("message", "the microphone is not available: " + err.message +
                " (allow it for this page; it needs http://127.0.0.1 or https)");
      model.save_changes();
      return;
    }
    ctx = new AudioContext();
    await ctx.resume();
    source = ctx.createMediaStreamSource(stream);
    node = ctx.createScriptProcessor(4096, 1, 1);
    chunks = [];
    node.onaudioprocess = (ev) => { chunks.push(new Float32Array(ev.inputBuffer.getChannelData(0))); };
    source.connect(node);
    node.connect(ctx.destination);
    started = performance.now();
    model.set("recording", true);
    model.set("message", "recording ... press Stop when done");
    model.save_changes();
    timer = setInterval(() => {
      const secs = (performance.now() - started) / 1000;
      info.textContent = `recording ${secs.toFixed(1)} s ... press Stop when done`;
      if (secs >= model.get("max_seconds")) stop();
    }, 200);
  }

  function stop() {
    clearInterval(timer);
    if (!ctx) return;
    source.disconnect(); node.disconnect();
    stream.getTracks().forEach((t) => t.stop());
    const n = chunks.reduce((a, c) => a + c.length, 0);
    const all = new Float32Array(n);
    let at = 0;
    for (const c of chunks) { all.set(c, at); at += c.length; }
    const rate = ctx.sampleRate;
    ctx.close();
    ctx = null;
    model.set("recording", false);
    model.set("message", `sending ${(n / rate).toFixed(1)} s ...`);
    model.save_changes();
    model.send({ type: "audio", sample_rate: rate, samples: n }, undefined, [all.buffer]);
  }

  button.addEventListener("click", () => (model.get("recording") ? stop() : start()));
}
export default { render };
"""

_CSS = """
.wb-mic { display: flex; align-items: center; gap: 0.6em; }
.wb-mic-button { min-width: 7em; font-weight: 600; }
.wb-mic-info { color: #555; }
"""


class Microphone(anywidget.AnyWidget):
    """Record/Stop button; ``on_audio(samples: np.ndarray, sample_rate: int)`` gets each recording."""

    _esm = _ESM
    _css = _CSS
    recording = traitlets.Bool(False).tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    max_seconds = traitlets.Float(30.0).tag(sync=True)

    def __init__(self, on_audio: Callable[[np.ndarray, int], None] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[np.ndarray, int], None]] = [on_audio] if on_audio else []
        self.on_msg(self._receive)

    def on_audio(self, callback: Callable[[np.ndarray, int], None]) -> None:
        self._callbacks.append(callback)

    def _receive(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") != "audio":
            return
        samples = np.frombuffer(bytes(buffers[0]), dtype=np.float32).copy() if buffers else np.zeros(0, np.float32)
        self.receive(samples, int(content.get("sample_rate") or 48_000))

    def receive(self, samples: np.ndarray, sample_rate: int) -> None:
        """What a recording arriving from the browser does (tests call it with their own audio)."""
        if len(samples) < sample_rate // 10:
            self.message = "nothing recorded (under 0.1 s): press Record, speak, then Stop"
            return
        for callback in self._callbacks:
            callback(samples, sample_rate)
