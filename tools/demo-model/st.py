"""Minimal safetensors reader/writer (the `safetensors` Python package is not installed here).
Format: u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}}, raw little-endian bytes."""
import json
import struct

import numpy as np
import torch

_DTYPES = {'U8': np.uint8, 'F32': np.float32, 'F16': np.float16, 'F64': np.float64, 'I64': np.int64, 'I32': np.int32}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}


def load(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        arr = np.frombuffer(data[a:b], dtype=_DTYPES[info['dtype']]).reshape(info['shape'])
        out[name] = torch.from_numpy(arr.copy())
    return out


def save(tensors, path, metadata=None):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        arr = tensors[name].detach().cpu().contiguous().numpy()
        raw = arr.astype(arr.dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': _NAMES[arr.dtype], 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(',', ':')).encode()
    blob += b' ' * (-len(blob) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)
