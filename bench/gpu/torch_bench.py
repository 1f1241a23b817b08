#!/usr/bin/env python3
"""PyTorch side of bench/gpu: times the kernel cases of cases.ts (JSON on stdin: {"cases": [...], "dtypes": [...],
"iters": n}) with torch.matmul / F.linear, F.conv2d, F.scaled_dot_product_attention (a matmul-softmax-matmul where
torch lacks it), F.group_norm + SiLU, F.layer_norm and softmax, on CUDA when available (else the CPU, where the
f16 cases torch cannot run are reported as errors). Prints one JSON object on stdout."""
import json
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001 - any import failure means "no PyTorch here"
    print(json.dumps({"available": False, "reason": f"import torch failed: {e}"}))
    sys.exit(0)


def build(case, dtype, dev):
    t = lambda shape: torch.rand(shape, dtype=dtype, device=dev) - 0.5  # noqa: E731
    op = case["op"]
    if op == "linear":
        x, w, b = t(case["x"]), t(case["w"]), t([case["w"][0]])
        return lambda: F.linear(x, w, b)
    if op == "bmm":
        a, b = t(case["a"]), t(case["b"])
        return (lambda: torch.matmul(a, b.transpose(-1, -2))) if case["transB"] else (lambda: torch.matmul(a, b))
    if op == "conv2d":
        x, w, b = t(case["x"]), t(case["w"]), t([case["w"][0]])
        top, bottom, left, right = case["padding"]
        if top == bottom and left == right:
            return lambda: F.conv2d(x, w, b, stride=case["stride"], padding=(top, left))
        return lambda: F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=case["stride"])
    if op == "attention":
        q, k, v = t(case["q"]), t(case["kv"]), t(case["kv"])
        h = case["heads"]

        def heads(x):
            b, s, c = x.shape
            return x.view(b, s, h, c // h).transpose(1, 2)

        qh, kh, vh = heads(q), heads(k), heads(v)
        if hasattr(F, "scaled_dot_product_attention"):
            return lambda: F.scaled_dot_product_attention(qh, kh, vh)
        scale = qh.shape[-1] ** -0.5
        return lambda: torch.softmax(torch.matmul(qh, kh.transpose(-1, -2)) * scale, dim=-1) @ vh
    if op == "group_norm":
        x = t(case["x"])
        c = case["x"][1]
        w, b = t([c]), t([c])
        return lambda: F.silu(F.group_norm(x, case["groups"], w, b, 1e-5))
    if op == "layer_norm":
        x = t(case["x"])
        d = case["x"][-1]
        w, b = t([d]), t([d])
        return lambda: F.layer_norm(x, (d,), w, b, 1e-5)
    if op == "softmax":
        x = t(case["x"])
        return lambda: torch.softmax(x, dim=-1)
    raise ValueError(f"unknown op {op}")


def time_ms(fn, dev, iters):
    fn()  # warm-up (cuDNN / cuBLAS heuristics)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(iters):
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
    else:
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    req = json.load(sys.stdin)
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # f32 means f32, as in our kernels
        torch.backends.cudnn.allow_tf32 = False
    out = {
        "available": True, "torch": torch.__version__, "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "sdpa": hasattr(F, "scaled_dot_product_attention"), "results": [],
    }
    for dtype_name in req["dtypes"]:
        dtype = torch.float16 if dtype_name == "f16" else torch.float32
        for case in req["cases"]:
            r = {"case": case["name"], "dtype": dtype_name}
            try:
                with torch.no_grad():
                    r["ms"] = time_ms(build(case, dtype, dev), dev, req.get("iters", 5))
            except Exception as e:  # noqa: BLE001 - e.g. half-precision conv on the CPU
                r["error"] = str(e).splitlines()[0][:200]
            out["results"].append(r)
            if cuda:
                torch.cuda.empty_cache()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
