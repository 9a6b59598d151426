"""One-to-many: a character-level LSTM language model that writes Python-documentation prose.

The text is CPython's own help topics (``pydoc_data.topics.topics``, what ``help("if")``
shows; it ships with Python, so no download), 79 topics joined in sorted-key order:
465,048 characters of English about Python under Python 3.11.7 (another Python version
ships a slightly different text, and so slightly different figures). The split is
chronological: the first 90 % (418,543 characters) trains, the last 10 % (46,505, the
topics from the middle of ``typesmapping`` on) validates and is never trained on. The
character vocabulary comes from the training text
(``jaxdl.data.build_vocabulary(..., level="char")``: 103 characters + ``<pad>``,
``<unk>``).

    model   = serial(Embedding(V, 32), RNN(LSTM(256)), Dense(V))            # training
    stepper = StackedCells(Embedding(V, 32), LSTM(256), Dense(V), input_ndim=0)  # generating

The model reads windows of 64 characters and predicts each next character (cross-entropy
on ``(batch, time)`` targets, the mean over batch and time). Each optimiser step draws
64 windows at random offsets of the training text, on the device, inside one compiled
``lax.scan`` of 100 steps (an "epoch") built from ``jaxdl.make_train_step(..., jit=False)``;
Adam with a warm-up and a cosine decay from 3e-3 to 3e-4, gradient clipping at global norm
1.0, 15 epochs = 1,500 steps. After each epoch the whole validation text is read as one
sequence (from its first character, each next one predicted from everything before it):
validation bits per character = mean cross-entropy in nats / ln 2. The baseline is the
unigram model, the training characters' frequencies scored on the validation text.

Generation: ``stepper`` is the same network as one cell with the same params tree, so the
trained params step it directly: ``jaxdl.scan_cell`` reads the prompt (``"The "``, all but
its last character) into the carry, and ``jaxdl.generate`` continues from the last
character, sampling 400 characters from ``softmax(logits / T)`` at T = 0.5 and 1.0.

The default run (seed 0): validation 1.951 bits/char (training text 1.838) against the
unigram baseline's 4.671, 326,281 parameters; 400 CPU-seconds (user+sys), 762 s wall on
the shared 2-core CPU at load 5 to 7 (``/usr/bin/time -v``). A 128-unit LSTM trained for
3,000 steps reached 1.969 in 262 CPU-seconds. At T = 0.5 the samples are fluent
documentation-shaped English with Python names ("The sequence with a type and attribute
as "__getitem__()" method in the result in the container call by "__new__()" ..."); at
T = 1.0 more varied, with invented words ("The simpluments.").

Outputs (``--out``): ``curves.png`` (bits per character against steps: the running mean
of each epoch's training windows, the validation text, the unigram line) and
``samples.txt`` (the samples, also printed).

Run: ``python -m experiments.char_rnn [--epochs 15] [--steps-per-epoch 100] [--seed 0]
[--hidden 256] [--seq-len 64] [--batch-size 64] [--lr 3e-3] [--temperatures 0.5 1.0]
[--sample-length 400] [--prompt "The "] [--out out/char_rnn]``.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from pathlib import Path
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxdl
import jaxdl.data
from experiments import _common

NAME = "char_rnn"
VAL_FRACTION = 0.1
EPOCHS = 15
STEPS_PER_EPOCH = 100
SEQ_LEN = 64
BATCH_SIZE = 64
EMBED_DIM = 32
HIDDEN = 256
PEAK_LR = 3e-3
CLIP_NORM = 1.0
TEMPERATURES = (0.5, 1.0)
SAMPLE_LENGTH = 400
PROMPT = "The "
LN2 = math.log(2.0)


def _fail(arg: str, message: str, kind: type[Exception] = ValueError) -> NoReturn:
    raise kind(f"{NAME}.run: {arg} {message}")


def load_text() -> str:
    """CPython's help topics (``pydoc_data.topics.topics``, the text behind ``help("if")``)
    joined in sorted-key order, one blank line apart: about 465,000 characters of English
    about Python (the exact text depends on the Python version)."""
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics))


def split_text(text: str, val_fraction: float = VAL_FRACTION) -> tuple[str, str]:
    """Chronological split: the first ``1 - val_fraction`` of the characters train, the rest
    validate (the last topics in key order, text the model never reads)."""
    cut = int(round(len(text) * (1.0 - val_fraction)))
    return text[:cut], text[cut:]


def char_lm(vocab_size: int, *, embed_dim: int = EMBED_DIM, hidden: int = HIDDEN
            ) -> tuple[jaxdl.Layer, jaxdl.Cell]:
    """The language model for training and the same network as one cell for generating.

    Returns:
      ``(model, stepper)``: ``model = serial(Embedding(V, E), RNN(LSTM(H)), Dense(V))`` maps
      ids ``(batch, time)`` to next-character logits ``(batch, time, V)``; ``stepper =
      StackedCells(Embedding(V, E), LSTM(H), Dense(V), input_ndim=0)`` maps one id per
      sequence ``(batch,)`` to logits ``(batch, V)`` and has the same params tree.
    """
    model = jaxdl.serial(jaxdl.Embedding(vocab_size, embed_dim), jaxdl.RNN(jaxdl.LSTM(hidden)),
                         jaxdl.Dense(vocab_size), name="char_lm")
    stepper = jaxdl.StackedCells(jaxdl.Embedding(vocab_size, embed_dim), jaxdl.LSTM(hidden),
                                 jaxdl.Dense(vocab_size), input_ndim=0, name="char_lm")
    return model, stepper


def unigram_bits_per_char(train_ids: np.ndarray, ids: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy, in bits per character, of ``ids`` under the training characters'
    frequencies (add-one smoothed over the ``vocab_size`` ids): the baseline a model that
    ignores context reaches.

    Args:
      train_ids: ``(n_train,)`` int ids of the training text.
      ids: ``(n,)`` int ids of the text to score.
      vocab_size: ``V``.
    """
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    log2p = np.log2(counts / counts.sum())
    return float(-np.mean(log2p[ids]))


def bits_per_char(model: jaxdl.Layer, params: Any, ids: np.ndarray, *, rows: int = 1) -> float:
    """The model's mean next-character cross-entropy over a text, in bits per character.

    The text is cut into ``rows`` contiguous pieces read side by side (one batch), each
    from a zero carry; every character but each piece's first is predicted from all the
    characters of its piece before it. ``rows=1`` reads the whole text as one sequence.

    Args:
      model: the ``serial`` language model (ids ``(batch, time)`` -> logits
        ``(batch, time, V)``).
      params: its params.
      ids: ``(n,)`` int ids, ``n >= 2``.
      rows: pieces read in parallel (faster on long texts; ``rows - 1`` characters lose
        their context).

    Returns:
      ``mean(-log2 p(next char))`` over the ``n - rows`` predicted characters.
    """
    ids = np.asarray(ids, np.int32)
    n = len(ids)
    length = -(-n // rows)                                      # ceil(n / rows)
    padded = np.zeros(rows * length, np.int32)
    padded[:n] = ids
    starts = np.arange(rows) * length
    predicted = np.clip(n - starts, 1, length).astype(np.int32) - 1   # targets per row
    nats = _mean_nats(model.apply, params, jnp.asarray(padded.reshape(rows, length)),
                      jnp.asarray(predicted))
    return float(nats) / LN2


@functools.partial(jax.jit, static_argnums=0)
def _mean_nats(apply: Any, params: Any, block: jax.Array, predicted: jax.Array) -> jax.Array:
    """Mean cross-entropy (nats) of ``block[:, 1:]`` given ``block[:, :-1]``, over the first
    ``predicted[r]`` targets of each row ``r``."""
    x, y = block[:, :-1], block[:, 1:]
    logits, _ = apply(params, {}, x, lengths=predicted)
    mask = jaxdl.length_mask(predicted, x.shape[1])
    return jaxdl.losses.sparse_categorical_cross_entropy(logits, y, where=mask)


def make_epoch(model: jaxdl.Layer, optimizer: optax.GradientTransformation, *,
               steps: int, batch_size: int, seq_len: int) -> Any:
    """One compiled "epoch": ``steps`` Adam steps on random windows of the training text.

    Returns:
      ``epoch(params, state, opt_state, train_ids (n,), key) -> (params, state, opt_state,
      losses (steps,))``: each step draws ``batch_size`` windows of ``seq_len + 1``
      characters at uniformly random offsets, reads the first ``seq_len`` and is scored on
      predicting the last ``seq_len`` (next-character cross-entropy in nats, mean over
      batch and time).
    """
    step = jaxdl.make_train_step(model, jaxdl.losses.sparse_categorical_cross_entropy,
                                 optimizer, jit=False)
    offsets = jnp.arange(seq_len + 1)

    def epoch(params: Any, state: Any, opt_state: Any, train_ids: jax.Array,
              key: jax.Array) -> tuple[Any, Any, Any, jax.Array]:
        def body(carry: Any, k: jax.Array) -> tuple[Any, jax.Array]:
            p, s, o = carry
            k_windows, k_step = jax.random.split(k)
            starts = jax.random.randint(k_windows, (batch_size,), 0,
                                        train_ids.shape[0] - seq_len)
            windows = train_ids[starts[:, None] + offsets[None, :]]        # (batch, seq_len + 1)
            p, s, o, m = step(p, s, o, (windows[:, :-1], windows[:, 1:]), k_step)
            return (p, s, o), m["loss"]

        (params, state, opt_state), losses = jax.lax.scan(
            body, (params, state, opt_state), jax.random.split(key, steps))
        return params, state, opt_state, losses

    return jax.jit(epoch, donate_argnums=(0, 1, 2))


def sample(stepper: jaxdl.Cell, params: Any, vocab: jaxdl.data.Vocabulary, prompt: str,
           length: int, *, temperature: float, key: jax.Array) -> str:
    """Reads ``prompt`` and continues it by ``length`` sampled characters.

    ``jaxdl.scan_cell`` reads all of the prompt but its last character into the carry, then
    ``jaxdl.generate`` feeds the last character and each sampled one back, drawing from
    ``softmax(logits / temperature)``.

    Returns:
      The prompt followed by the generated characters.
    """
    ids, _ = vocab.encode([prompt])                              # (1, len(prompt))
    ids = jnp.asarray(ids)
    carry = None
    if ids.shape[1] > 1:
        _, carry = jaxdl.scan_cell(stepper, params, ids[:, :-1])
    out, _ = jaxdl.generate(stepper, params, ids[:, -1], length, carry=carry, key=key,
                            temperature=temperature)
    return prompt + vocab.decode(np.asarray(out), [length])[0]


def run(*, seed: int = 0, epochs: int = EPOCHS, steps_per_epoch: int = STEPS_PER_EPOCH,
        batch_size: int = BATCH_SIZE, seq_len: int = SEQ_LEN, embed_dim: int = EMBED_DIM,
        hidden: int = HIDDEN, peak_lr: float = PEAK_LR,
        temperatures: tuple[float, ...] = TEMPERATURES, sample_length: int = SAMPLE_LENGTH,
        prompt: str = PROMPT, n_chars: int | None = None, out: str | Path | None = None,
        verbose: bool = False) -> dict[str, Any]:
    """Trains the character LSTM, scores it in bits per character and samples from it.

    Args:
      seed: seeds the initial weights, the training windows and the samples.
      epochs: evaluation rounds; each is ``steps_per_epoch`` optimiser steps.
      steps_per_epoch: optimiser steps between two validation scores.
      batch_size: windows per step.
      seq_len: characters per window (backpropagation through time over this many steps).
      embed_dim: the character embedding's size.
      hidden: LSTM units.
      peak_lr: Adam's learning rate after a short warm-up, cosine-decayed to a tenth.
      temperatures: sampling temperatures, one sample each.
      sample_length: characters generated per sample.
      prompt: the text each sample continues.
      n_chars: use only the first ``n_chars`` characters of the corpus (tests).
      out: folder for ``curves.png`` and ``samples.txt`` (None: nothing written).
      verbose: print progress, the figures and the samples.

    Returns:
      ``val_bits_per_char``, ``train_bits_per_char`` (whole texts, final weights),
      ``unigram_bits_per_char`` (the baseline on the validation text), ``history``
      (``{"step", "train_bits_per_char", "val_bits_per_char"}`` per epoch), ``samples``
      (``{temperature: text}``), ``vocab_size``, ``n_train_chars``, ``n_val_chars``,
      ``n_params``, ``steps``, ``train_seconds`` and ``plot`` / ``samples_file`` when
      ``out`` is given.
    """
    _check_run_args(locals())
    say = print if verbose else (lambda *a, **k: None)
    text = load_text()
    if n_chars is not None:
        text = text[:n_chars]
    train_text, val_text = split_text(text)
    if len(train_text) <= seq_len + 1 or len(val_text) < 2:
        _fail("n_chars", f"leaves {len(train_text)} training and {len(val_text)} validation "
              f"characters; needs more than seq_len + 1 = {seq_len + 1} and 2")
    vocab = jaxdl.data.build_vocabulary([train_text], level="char")
    V = len(vocab.tokens)
    train_ids = vocab.encode([train_text])[0][0]
    val_ids = vocab.encode([val_text])[0][0]
    unseen = int(np.sum(val_ids == jaxdl.data.UNK_ID))
    say(f"pydoc_data.topics: {len(train_text):,} training / {len(val_text):,} validation "
        f"characters (last {VAL_FRACTION:.0%}), vocabulary {V} ids ({V - 2} characters + "
        f"<pad>, <unk>); {unseen} validation characters unseen in training")
    unigram = unigram_bits_per_char(train_ids, val_ids, V)
    say(f"unigram baseline (training character frequencies): {unigram:.3f} bits/char on "
        f"the validation text")

    model, stepper = char_lm(V, embed_dim=embed_dim, hidden=hidden)
    say(jaxdl.summary(model, (None,)))
    k_init, k_train, k_sample = jax.random.split(jax.random.key(seed), 3)
    _, params, state = model.init(k_init, (None,))
    total = epochs * steps_per_epoch
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, peak_lr, warmup_steps=min(100, total // 10 + 1), decay_steps=total,
        end_value=peak_lr / 10)
    optimizer = optax.chain(optax.clip_by_global_norm(CLIP_NORM), optax.adam(schedule))
    opt_state = optimizer.init(params)
    epoch_fn = make_epoch(model, optimizer, steps=steps_per_epoch, batch_size=batch_size,
                          seq_len=seq_len)
    say(f"training: {epochs} x {steps_per_epoch} steps, batch {batch_size} random windows of "
        f"{seq_len} characters, Adam peak {peak_lr:g} (warm-up, cosine decay), global-norm "
        f"clipping {CLIP_NORM:g}")
    train_ids_dev = jnp.asarray(train_ids)
    history: dict[str, list[float]] = {"step": [], "train_bits_per_char": [],
                                       "val_bits_per_char": []}
    t0 = time.perf_counter()
    for e, k in enumerate(jax.random.split(k_train, epochs), start=1):
        te = time.perf_counter()
        params, state, opt_state, losses = epoch_fn(params, state, opt_state, train_ids_dev, k)
        train_bpc = float(jnp.mean(losses)) / LN2
        if not math.isfinite(train_bpc):
            raise FloatingPointError(f"{NAME}: training loss is {train_bpc} in epoch {e}")
        val_bpc = bits_per_char(model, params, val_ids)
        history["step"].append(e * steps_per_epoch)
        history["train_bits_per_char"].append(train_bpc)
        history["val_bits_per_char"].append(val_bpc)
        say(f"epoch {e}/{epochs} step {e * steps_per_epoch}: train {train_bpc:.3f} "
            f"(running mean over the epoch's windows)  val {val_bpc:.3f} bits/char  "
            f"({time.perf_counter() - te:.1f} s)")
    train_seconds = time.perf_counter() - t0
    train_full = bits_per_char(model, params, train_ids, rows=32)
    val_full = history["val_bits_per_char"][-1]
    say(f"final: train {train_full:.3f}, validation {val_full:.3f}, unigram baseline "
        f"{unigram:.3f} bits/char  ({train_seconds:.1f} s training)")

    samples = {}
    for t, k in zip(temperatures, jax.random.split(k_sample, len(temperatures))):
        samples[t] = sample(stepper, params, vocab, prompt, sample_length, temperature=t, key=k)
        say(f"\n--- sample at temperature {t:g} ---\n{samples[t]}\n--- end ---")
    r: dict[str, Any] = {
        "val_bits_per_char": val_full, "train_bits_per_char": train_full,
        "unigram_bits_per_char": unigram, "history": history, "samples": samples,
        "vocab_size": V, "n_train_chars": len(train_text), "n_val_chars": len(val_text),
        "n_params": jaxdl.count_params(params), "steps": total, "train_seconds": train_seconds,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "samples.txt"
        path.write_text("".join(f"=== temperature {t:g} (seed {seed}, prompt {prompt!r}) ===\n"
                                f"{s}\n\n" for t, s in samples.items()), encoding="utf-8")
        r["samples_file"] = str(path)
        r["plot"] = str(plot_curves(history, unigram, out / "curves.png",
                                    title=f"char LSTM({hidden}) on pydoc topics (seed {seed})"))
    return r


def plot_curves(history: dict[str, list[float]], unigram: float, path: Path, *,
                title: str = "") -> Path:
    """Bits per character against optimiser steps: the running training mean, validation,
    and the unigram baseline as a line."""
    fig, ax = _common.plt.subplots(figsize=(6.5, 4), layout="constrained")
    ax.plot(history["step"], history["train_bits_per_char"], marker="o", label="train (running)")
    ax.plot(history["step"], history["val_bits_per_char"], marker="o", label="validation")
    ax.axhline(unigram, color="gray", linestyle="--", label=f"unigram baseline ({unigram:.2f})")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("bits per character")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _common.save_figure(fig, path)


def _check_run_args(args: dict[str, Any]) -> None:
    """``run``'s arguments: TypeError / ValueError naming ``char_rnn.run`` and the argument."""
    for name in ("seed", "epochs", "steps_per_epoch", "batch_size", "seq_len", "embed_dim",
                 "hidden", "sample_length"):
        v = args[name]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            _fail(name, f"must be an int, got {v!r}", TypeError)
        if v < (0 if name == "seed" else 1):
            _fail(name, f"must be >= {0 if name == 'seed' else 1}, got {v}")
    if args["n_chars"] is not None:
        v = args["n_chars"]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            _fail("n_chars", f"must be an int or None, got {v!r}", TypeError)
        if v < 2:
            _fail("n_chars", f"must be >= 2, got {v}")
    lr = args["peak_lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        _fail("peak_lr", f"must be a number, got {lr!r}", TypeError)
    if not (math.isfinite(lr) and lr > 0):
        _fail("peak_lr", f"must be a positive finite number, got {lr}")
    temps = args["temperatures"]
    if isinstance(temps, (str, bytes)) or not isinstance(temps, (tuple, list)) or not temps:
        _fail("temperatures", f"must be a non-empty tuple of numbers, got {temps!r}", TypeError)
    for t in temps:
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            _fail("temperatures", f"must hold numbers, got {t!r}", TypeError)
        if not (math.isfinite(t) and t > 0):
            _fail("temperatures", f"must be positive and finite, got {t}")
    if not isinstance(args["prompt"], str):
        _fail("prompt", f"must be a string, got {type(args['prompt']).__name__}", TypeError)
    if not args["prompt"]:
        _fail("prompt", "must not be empty")


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps-per-epoch", type=int, default=STEPS_PER_EPOCH,
                        help=f"optimiser steps per epoch (default {STEPS_PER_EPOCH})")
    parser.add_argument("--hidden", type=int, default=HIDDEN,
                        help=f"LSTM units (default {HIDDEN})")
    parser.add_argument("--seq-len", type=int, default=SEQ_LEN,
                        help=f"characters per training window (default {SEQ_LEN})")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help=f"windows per step (default {BATCH_SIZE})")
    parser.add_argument("--lr", type=float, default=PEAK_LR,
                        help=f"peak learning rate (default {PEAK_LR:g})")
    parser.add_argument("--temperatures", type=float, nargs="+", default=TEMPERATURES,
                        help="sampling temperatures (default "
                             f"{' '.join(f'{t:g}' for t in TEMPERATURES)})")
    parser.add_argument("--sample-length", type=int, default=SAMPLE_LENGTH,
                        help=f"characters per sample (default {SAMPLE_LENGTH})")
    parser.add_argument("--prompt", default=PROMPT, help=f"text the samples continue "
                                                         f"(default {PROMPT!r})")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains, prints the samples and the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0,
                              epochs_help="epochs of --steps-per-epoch steps", extra=_options,
                              argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
            hidden=args.hidden, seq_len=args.seq_len, batch_size=args.batch_size,
            peak_lr=args.lr, temperatures=tuple(args.temperatures),
            sample_length=args.sample_length, prompt=args.prompt, out=args.out, verbose=True)
    print(f"plot: {r['plot']}  samples: {r['samples_file']}   "
          f"(total {time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in (
        "val_bits_per_char", "train_bits_per_char", "unigram_bits_per_char", "steps",
        "n_params", "vocab_size", "train_seconds")})


if __name__ == "__main__":
    main()
