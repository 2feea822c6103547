"""cuBLAS (through PyTorch) on the GEMM shapes `npm run cuda:tc` times: a 1024^3 matmul and the grouped
GEMM of scripts/cuda_tc_plan.ts (GROUPED_BENCH: M rows in E balanced groups, [M, K] @ [E, K, N]) as one
batched matmul (torch.bmm over [E, M/E, K] @ [E, K, N]: cuBLAS's strided-batched GEMM, what balanced routing
allows), each in f32 (allow_tf32 off) and TF32 (allow_tf32 on).

Usage: python3 bench/torch_gemm.py [--reps 50]
Prints one line per measurement: `torch <name> <ms> ms`.
"""
import argparse

import torch

from torch_moe import timed  # same timing as the MoE peer (bench/ is on sys.path when run as a script)

M, K, N, E = 8192, 1024, 1024, 8  # keep in step with GROUPED_BENCH in scripts/cuda_tc_plan.ts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    dev = "cuda"
    torch.manual_seed(0)
    a, b = torch.randn(1024, 1024, device=dev), torch.randn(1024, 1024, device=dev)
    x, w = torch.randn(E, M // E, K, device=dev), torch.randn(E, K, N, device=dev)
    print(f"torch device {torch.cuda.get_device_name()}")
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        kind = "tf32" if tf32 else "f32"
        print(f"torch cublas matmul 1024^3 {kind} {timed(lambda: a @ b, args.reps):.4f} ms")
        print(f"torch cublas grouped {kind} {timed(lambda: torch.bmm(x, w), args.reps):.4f} ms")


if __name__ == "__main__":
    main()
