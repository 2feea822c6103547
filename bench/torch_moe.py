"""Peer benchmark on an NVIDIA GPU: the benchmark MoE layer of bench/moe_layer.ts in
PyTorch eager (f32), timed like `npm run cuda:check -- --bench` times the generated CUDA.

Same layer: top-2 router (softmax + topk), dropless dispatch (stable argsort of the
token slots by expert, bincount, gather), SwiGLU experts (a matmul per expert, since
PyTorch has no f32 grouped GEMM), weighted combine with index_add_. fwd+bwd is the
loss 0.5 * sum(y^2) and its gradients with respect to every input, as in moePrograms.

Usage: python3 bench/torch_moe.py [--reps 20]
Prints one line per measurement: `torch <name> <ms> ms`.
"""
import argparse

import torch

T, D, H, E, K = 1024, 256, 512, 8, 2


def moe_layer(x, router, w_gate, w_up, w_down):
    weights, experts = torch.topk(torch.softmax(x @ router, dim=-1), K, dim=-1)
    slot_expert = experts.reshape(T * K)
    order = torch.argsort(slot_expert, stable=True)
    token_of = torch.arange(T, device=x.device).repeat_interleave(K)[order]
    group_sizes = torch.bincount(slot_expert, minlength=E).tolist()
    rows = x[token_of]
    outs = []
    start = 0
    for g, size in enumerate(group_sizes):
        r = rows[start : start + size]
        h = torch.nn.functional.silu(r @ w_gate[g]) * (r @ w_up[g])
        outs.append(h @ w_down[g])
        start += size
    out = torch.cat(outs)
    gate = weights.reshape(T * K)[order].unsqueeze(1)
    return torch.zeros(T, D, device=x.device).index_add_(0, token_of, out * gate)


def timed(fn, reps):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False  # f32 like the generated kernels
    torch.manual_seed(0)
    dev = "cuda"
    x = torch.randn(T, D, device=dev)
    params = [
        torch.randn(D, E, device=dev) / D**0.5,
        torch.randn(E, D, H, device=dev) / D**0.5,
        torch.randn(E, D, H, device=dev) / D**0.5,
        torch.randn(E, H, D, device=dev) / H**0.5,
    ]
    with torch.no_grad():
        fwd = timed(lambda: moe_layer(x, *params), args.reps)
    leaves = [t.clone().requires_grad_(True) for t in [x, *params]]

    def fwd_bwd():
        y = moe_layer(*leaves)
        loss = 0.5 * (y * y).sum()
        return torch.autograd.grad(loss, leaves)

    both = timed(fwd_bwd, args.reps)
    a, b = torch.randn(1024, 1024, device=dev), torch.randn(1024, 1024, device=dev)
    mm = timed(lambda: a @ b, args.reps)
    print(f"torch device {torch.cuda.get_device_name()}")
    print(f"torch MoE fwd {fwd:.3f} ms")
    print(f"torch MoE fwd+bwd {both:.3f} ms")
    print(f"torch matmul 1024^3 {mm:.3f} ms {2 * 1024**3 / (mm * 1e6):.1f} GFLOP/s (f32, no TF32)")


if __name__ == "__main__":
    main()
