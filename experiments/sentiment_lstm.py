"""Many-to-one: sentence sentiment with a bidirectional LSTM on rt-polarity.

rt-polarity (sentence polarity v1.0, Pang & Lee 2005): 10,662 one-sentence movie-review
snippets, half positive, lower-cased and tokenised, from ``jaxdl.data.load("rt_polarity")``,
split 80/10/10 with ``jaxdl.data.train_val_test_split`` (stratified by label, seeded) into
8,530 training, 1,066 validation and 1,066 test sentences. The word vocabulary comes from
the training sentences only (``jaxdl.data.build_vocabulary``, words seen at least twice:
8,972 ids with ``<pad>`` and ``<unk>``); rarer and unseen words become ``<unk>`` (9 % of
the test words). Each sentence is encoded as right-padded ids with its length, and the
lengths travel as ``fit``'s ``"lengths"`` column: the LSTMs stop at each sentence's last
word and never read the padding.

    serial(Embedding(V, 128), Dropout(0.5),
           Bidirectional(RNN(LSTM(128), return_sequences=False),
                         RNN(LSTM(128), return_sequences=False)),    # (batch, 256)
           Dropout(0.5), Dense(2))

The forward LSTM's output after the last word and the backward LSTM's after the first
(it reads the sentence right to left) are concatenated and classified. Training:
:func:`jaxdl.fit`, AdamW (2e-3, weight decay 1e-4), gradient clipping 1.0, batches of 64,
at most 10 epochs, early stopping on ``val_loss`` (patience 3, best weights restored):
1.4 M parameters (1.15 M of them the embedding) on 8,530 sentences overfit after two or
three epochs.

The default run (seed 0): test accuracy 0.7730 (824 of 1,066; validation 0.7523,
training 0.9151), best epoch 2 of 5; 171 CPU-seconds (user+sys), 332 s wall on the
shared 2-core CPU at load about 7 (``/usr/bin/time -v``). Seeds 1 to 4 give 0.762,
0.756, 0.775, 0.755 (seeds 0..4: mean 0.764, all at least 0.75, the lowest by half a
point; the 1,066 test sentences alone make about ±1.3 points). For scale, Kim (2014)
reports 76.1 % for a randomly initialised CNN and 81.5 % with pretrained word2vec
vectors (10-fold cross-validation). With patience 2, ``--pooling max`` (the maximum of
the BiLSTM's outputs over the valid steps, ``GlobalMaxPool(1)``) scored 0.763 and 0.760
on seeds 0 and 1, and a 64/64 model, at half the cost, 0.767 and 0.753.

It prints a few test sentences with P(positive), among them the three most confident
mistakes (often a sentence that turns around: "yes , spirited away is a triumph of
imagination , but it's also a failure of storytelling ."). Plots (``--out``):
``curves.png`` (loss and accuracy per epoch, train and validation, the restored epoch
marked) and ``confusion.png`` (the test confusion matrix).

Run: ``python -m experiments.sentiment_lstm [--epochs 10] [--seed 0] [--hidden 128]
[--embed-dim 128] [--pooling last] [--lr 2e-3] [--patience 3] [--out out/sentiment_lstm]``.
"""

from __future__ import annotations

import argparse
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

NAME = "sentiment_lstm"
CLASSES = ("negative", "positive")
FRACTIONS = (0.8, 0.1, 0.1)
EPOCHS = 10
EMBED_DIM = 128
HIDDEN = 128
MIN_COUNT = 2
MAX_LENGTH = 60
DROP_RATE = 0.5
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
BATCH_SIZE = 64
PATIENCE = 3
POOLINGS = ("last", "max")


def _fail(arg: str, message: str, kind: type[Exception] = ValueError) -> NoReturn:
    raise kind(f"{NAME}.run: {arg} {message}")


def load_splits(seed: int, *, min_count: int = MIN_COUNT, max_length: int = MAX_LENGTH,
                n_train: int | None = None
                ) -> tuple[dict[str, dict[str, np.ndarray]], jaxdl.data.Vocabulary,
                           dict[str, np.ndarray]]:
    """rt-polarity split 80/10/10 (stratified, seeded) and encoded with a training vocabulary.

    Args:
      seed: seeds the split.
      min_count: training-set count below which a word becomes ``<unk>``.
      max_length: sentences are cut to this many words (the longest has 59).
      n_train: keep only the first ``n_train`` training sentences (the vocabulary then
        comes from those).

    Returns:
      ``(splits, vocab, texts)``: ``splits[name] = {"x": ids (n, max_length) int32,
      "y": labels (n,) int32, "lengths": (n,) int32}`` for ``"train"``, ``"val"``,
      ``"test"``; the word :class:`jaxdl.data.Vocabulary` built from the training sentences
      (words seen fewer than ``min_count`` times there become ``<unk>``); ``texts[name]``
      the raw sentences ``(n,)``.
    """
    data = jaxdl.data.load("rt_polarity")
    parts = jaxdl.data.train_val_test_split(data, fractions=FRACTIONS, seed=seed,
                                            stratify="label")
    parts = dict(zip(("train", "val", "test"), parts))
    if n_train is not None:
        parts["train"] = {k: v[:n_train] for k, v in parts["train"].items()}
    vocab = jaxdl.data.build_vocabulary(parts["train"]["text"], level="word",
                                        min_count=min_count)
    splits = {}
    for name, part in parts.items():
        ids, lengths = vocab.encode(part["text"], max_length=max_length)
        splits[name] = {"x": ids, "y": np.asarray(part["label"], np.int32),
                        "lengths": lengths}
    return splits, vocab, {k: v["text"] for k, v in parts.items()}


def sentiment_model(vocab_size: int, *, embed_dim: int = EMBED_DIM, hidden: int = HIDDEN,
                    drop_rate: float = DROP_RATE, pooling: str = "last") -> jaxdl.Layer:
    """Embedding -> Dropout -> BiLSTM -> (last steps | max over steps) -> Dropout -> Dense(2).

    Args:
      vocab_size: ``V``, the number of word ids.
      embed_dim: word-embedding size.
      hidden: LSTM units per direction.
      drop_rate: dropout after the embedding and after the BiLSTM.
      pooling: ``"last"``: the forward LSTM's output at each sentence's last word and the
        backward one's at its first (``return_sequences=False``); ``"max"``: the maximum of
        the BiLSTM's outputs over the valid steps (``GlobalMaxPool(1)``).

    Shapes: token ids ``(batch, time)`` with ``lengths`` ``(batch,)`` -> logits ``(batch, 2)``;
    the sentence summary is ``(batch, 2·hidden)``.
    """
    if pooling == "last":
        bi = [jaxdl.Bidirectional(jaxdl.RNN(jaxdl.LSTM(hidden), return_sequences=False),
                                  jaxdl.RNN(jaxdl.LSTM(hidden), return_sequences=False))]
    else:
        bi = [jaxdl.Bidirectional(jaxdl.RNN(jaxdl.LSTM(hidden)), jaxdl.RNN(jaxdl.LSTM(hidden))),
              jaxdl.GlobalMaxPool(1)]
    return jaxdl.serial(
        jaxdl.Embedding(vocab_size, embed_dim),
        jaxdl.Dropout(drop_rate),
        *bi,
        jaxdl.Dropout(drop_rate),
        jaxdl.Dense(len(CLASSES)),
        name="sentiment_bilstm")


def predict_texts(model: jaxdl.Layer, params: Any, state: Any,
                  vocab: jaxdl.data.Vocabulary, texts: Any, *,
                  max_length: int = MAX_LENGTH, batch_size: int = 1024) -> np.ndarray:
    """P(positive) for raw sentences: encoded with ``vocab``, padded to ``max_length``, the
    lengths passed to the model so that the padding is masked.

    Args:
      texts: ``n`` sentences (tokenised like rt-polarity: words separated by spaces).
      max_length: longer sentences are cut to this many words.
      batch_size: sentences per compiled batch (``jaxdl.predict``).

    Returns:
      ``(n,)`` float probabilities of the positive class.
    """
    ids, lengths = vocab.encode(list(texts), max_length=max_length)
    logits = jaxdl.predict(model, params, state, ids, lengths=lengths, batch_size=batch_size)
    return np.asarray(jax.nn.softmax(logits, axis=-1)[:, 1])


def _check_run_args(args: dict[str, Any]) -> None:
    """``run``'s arguments: TypeError / ValueError naming ``sentiment_lstm.run``."""
    for name, low in (("seed", 0), ("epochs", 1), ("embed_dim", 1), ("hidden", 1),
                      ("min_count", 1), ("batch_size", 1), ("patience", 1),
                      ("max_length", 1), ("n_train", 2)):
        v = args[name]
        if v is None and name == "n_train":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            _fail(name, f"must be an int{' or None' if name == 'n_train' else ''}, got {v!r}",
                  TypeError)
        if v < low:
            _fail(name, f"must be >= {low}, got {v}")
    for name, lo_open in (("learning_rate", True), ("weight_decay", False)):
        v = args[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            _fail(name, f"must be a number, got {v!r}", TypeError)
        if not math.isfinite(v) or v < 0 or (lo_open and v == 0):
            _fail(name, f"must be {'positive' if lo_open else 'non-negative'} and finite, "
                        f"got {v}")
    v = args["drop_rate"]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _fail("drop_rate", f"must be a number, got {v!r}", TypeError)
    if not 0.0 <= v < 1.0:
        _fail("drop_rate", f"must be a probability in [0, 1), got {v}")
    if args["pooling"] not in POOLINGS:
        _fail("pooling", f"must be one of {POOLINGS}, got {args['pooling']!r}")


def run(*, seed: int = 0, epochs: int = EPOCHS, embed_dim: int = EMBED_DIM,
        hidden: int = HIDDEN, min_count: int = MIN_COUNT, drop_rate: float = DROP_RATE,
        learning_rate: float = LEARNING_RATE, weight_decay: float = WEIGHT_DECAY,
        batch_size: int = BATCH_SIZE, patience: int = PATIENCE, pooling: str = "last",
        max_length: int = MAX_LENGTH, n_train: int | None = None,
        out: str | Path | None = None, verbose: bool = False) -> dict[str, Any]:
    """Trains the BiLSTM sentiment classifier and scores it on the held-out test sentences.

    Args:
      seed: seeds the split, the initial weights, the shuffling and the dropout.
      epochs: the most epochs (early stopping on ``val_loss`` usually ends sooner).
      embed_dim: word-embedding size.
      hidden: LSTM units per direction.
      min_count: training-set count below which a word becomes ``<unk>``.
      drop_rate: dropout on the embeddings and on the BiLSTM's summary.
      learning_rate: AdamW's learning rate.
      weight_decay: AdamW's decoupled weight decay.
      batch_size: sentences per step.
      patience: early-stopping patience (epochs without a lower ``val_loss``).
      pooling: ``"last"``: each direction's output after reading the whole sentence;
        ``"max"``: the maximum over the valid steps of the BiLSTM's outputs.
      max_length: sentences are cut to this many words (the longest has 59).
      n_train: train on the first ``n_train`` training sentences only (tests).
      out: folder for ``curves.png`` and ``confusion.png`` (None: no plots).
      verbose: print the summary, one line per epoch, the scores and example predictions.

    Returns:
      ``test_accuracy``, ``test_loss``, ``val_accuracy``, ``val_loss``, ``train_accuracy``,
      ``train_loss`` (best weights, dropout off), ``majority_accuracy`` (the test accuracy
      of always answering the training set's majority class), ``epochs_run``,
      ``best_epoch``, ``train_seconds``, ``confusion`` (``(2, 2)``, ``[true, predicted]``),
      ``history``, ``vocab_size``, ``unk_rate_test`` (share of test words that are
      ``<unk>``), ``n_params``, ``n_train``/``n_val``/``n_test``, ``examples`` (test
      sentences with their label and P(positive)), and ``model``, ``params``, ``state``,
      ``vocab`` for further predictions (:func:`predict_texts`); ``plot`` and
      ``confusion_plot`` when ``out`` is given.
    """
    _check_run_args(dict(locals()))
    say = print if verbose else (lambda *a, **k: None)
    splits, vocab, texts = load_splits(seed, min_count=min_count, max_length=max_length,
                                       n_train=n_train)
    train, test = splits["train"], splits["test"]
    test_ids = test["x"][np.arange(test["x"].shape[1])[None, :] < test["lengths"][:, None]]
    unk_rate = float(np.mean(test_ids == jaxdl.data.UNK_ID))
    say(f"rt-polarity: {len(train['y'])} train / {len(splits['val']['y'])} validation / "
        f"{len(test['y'])} test sentences (stratified, seed {seed}); vocabulary "
        f"{len(vocab.tokens)} words (training words seen >= {min_count} times, + <pad>, "
        f"<unk>); {unk_rate:.1%} of the test words are <unk>")
    model = sentiment_model(len(vocab.tokens), embed_dim=embed_dim, hidden=hidden,
                            drop_rate=drop_rate, pooling=pooling)
    say(jaxdl.summary(model, (None,)))
    k_init, k_fit = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(k_init, (None,))
    loss = jaxdl.losses.sparse_categorical_cross_entropy
    say(f"training: AdamW(lr {learning_rate:g}, weight decay {weight_decay:g}), clipping "
        f"1.0, batch {batch_size}, at most {epochs} epochs, early stopping on val_loss "
        f"(patience {patience}, best weights restored)")
    t0 = time.perf_counter()
    result = jaxdl.fit(
        model, params, state, train, loss=loss,
        optimizer=optax.adamw(learning_rate, weight_decay=weight_decay), epochs=epochs,
        batch_size=batch_size, key=k_fit, validation_data=splits["val"], metrics=["accuracy"],
        early_stopping=jaxdl.EarlyStopping(monitor="val_loss", patience=patience,
                                           restore_best=True),
        clip_grad_norm=1.0, verbose=2 if verbose else 0)
    train_seconds = time.perf_counter() - t0
    epochs_run = len(result.history["loss"])
    say(f"stopped after {epochs_run} epochs in {train_seconds:.1f} s (compilation included); "
        f"restored the weights of epoch {result.best_epoch} (lowest val_loss)")

    scores = {name: jaxdl.evaluate(model, result.params, result.state, s, loss=loss,
                                   metrics=["accuracy"]) for name, s in splits.items()}
    p_test = predict_texts(model, result.params, result.state, vocab, texts["test"],
                           max_length=max_length)
    predicted = (p_test > 0.5).astype(np.int32)
    confusion = np.asarray(jaxdl.metrics.confusion_matrix(
        jnp.asarray(predicted), jnp.asarray(test["y"]), len(CLASSES)))
    majority = int(np.mean(train["y"]) >= 0.5)
    majority_accuracy = float(np.mean(test["y"] == majority))
    say("\nfinal metrics (best weights, dropout off):")
    for name, s in scores.items():
        say(f"{name:>5}: loss {s['loss']:.4f}  accuracy {s['accuracy']:.4f}")
    say(f"majority class on test: {majority_accuracy:.4f}")
    say("test confusion matrix:\n" + _common.format_confusion(confusion, CLASSES))

    wrong = np.flatnonzero(predicted != test["y"])
    wrong = wrong[np.argsort(-np.abs(p_test[wrong] - 0.5))][:3]   # most confident mistakes
    shown = [*range(min(6, len(p_test))), *wrong.tolist()]
    examples = [{"text": str(texts["test"][i]), "label": int(test["y"][i]),
                 "p_positive": float(p_test[i])} for i in shown]
    say("\ntest sentences (P(positive), true label; the last three are the most confident "
        "mistakes):")
    for ex in examples:
        ok = "ok   " if (ex["p_positive"] > 0.5) == bool(ex["label"]) else "WRONG"
        say(f"  {ex['p_positive']:.2f} {CLASSES[ex['label']]:>8} {ok} {ex['text'][:110]}")

    r: dict[str, Any] = {
        "test_accuracy": scores["test"]["accuracy"], "test_loss": scores["test"]["loss"],
        "val_accuracy": scores["val"]["accuracy"], "val_loss": scores["val"]["loss"],
        "train_accuracy": scores["train"]["accuracy"], "train_loss": scores["train"]["loss"],
        "majority_accuracy": majority_accuracy, "epochs_run": epochs_run,
        "best_epoch": result.best_epoch, "train_seconds": train_seconds,
        "confusion": confusion, "history": result.history, "vocab_size": len(vocab.tokens),
        "unk_rate_test": unk_rate, "n_params": jaxdl.count_params(result.params),
        **{f"n_{name}": len(s["y"]) for name, s in splits.items()},
        "examples": examples, "model": model, "params": result.params,
        "state": result.state, "vocab": vocab,
    }
    if out is not None:
        r["plot"] = str(_common.plot_history(
            result.history, Path(out) / "curves.png", best_epoch=result.best_epoch,
            title=f"BiLSTM sentiment, rt-polarity (seed {seed}): test accuracy "
                  f"{r['test_accuracy']:.4f}"))
        r["confusion_plot"] = str(plot_confusion(confusion, Path(out) / "confusion.png"))
    return r


def plot_confusion(confusion: np.ndarray, path: Path) -> Path:
    """The ``(2, 2)`` test confusion matrix ``[true, predicted]`` as an annotated image."""
    fig, ax = _common.plt.subplots(figsize=(4, 3.6), layout="constrained")
    ax.imshow(confusion, cmap="Blues")
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center",
                color="white" if v > confusion.max() / 2 else "black")
    ax.set_xticks(range(len(CLASSES)), CLASSES)
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"test confusion ({np.trace(confusion)} of {confusion.sum()} right)")
    return _common.save_figure(fig, path)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden", type=int, default=HIDDEN,
                        help=f"LSTM units per direction (default {HIDDEN})")
    parser.add_argument("--embed-dim", type=int, default=EMBED_DIM,
                        help=f"word-embedding size (default {EMBED_DIM})")
    parser.add_argument("--pooling", choices=POOLINGS, default="last",
                        help="the BiLSTM's summary of a sentence: its last steps, or the max "
                             "over steps (default last)")
    parser.add_argument("--lr", type=float, default=LEARNING_RATE,
                        help=f"AdamW learning rate (default {LEARNING_RATE:g})")
    parser.add_argument("--patience", type=int, default=PATIENCE,
                        help=f"early-stopping patience in epochs (default {PATIENCE})")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: trains, prints the results and the RESULT line."""
    args = _common.parse_args(NAME, __doc__.splitlines()[0], epochs=EPOCHS, seed=0,
                              extra=_options, argv=argv)
    t0 = time.perf_counter()
    r = run(seed=args.seed, epochs=args.epochs, hidden=args.hidden, embed_dim=args.embed_dim,
            pooling=args.pooling, learning_rate=args.lr, patience=args.patience,
            out=args.out, verbose=True)
    print(f"plots: {r['plot']}, {r['confusion_plot']}   (total "
          f"{time.perf_counter() - t0:.1f} s)")
    _common.print_result(NAME, {k: r[k] for k in (
        "test_accuracy", "test_loss", "val_accuracy", "val_loss", "train_accuracy",
        "majority_accuracy", "epochs_run", "best_epoch", "vocab_size", "n_params")})


if __name__ == "__main__":
    main()
