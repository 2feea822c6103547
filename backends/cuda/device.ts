/**
 * Is there an NVIDIA GPU here? The CUDA backend runs only where one is present
 * and nvcc is installed; everything else (emitting, compiling) works anywhere.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cudaDeviceProfile, type DeviceProfile } from "../../codegen/device";
import { findNvcc } from "./nvcc";

/**
 * Names of the NVIDIA GPUs `nvidia-smi -L` lists (empty when it is missing or
 * lists none). Falls back to the device nodes when nvidia-smi is absent.
 * Asked once per process.
 *
 * @example
 * nvidiaGpus(); // ["GPU 0: NVIDIA H100 80GB HBM3 (UUID: ...)"] or []
 */
let cachedGpus: string[] | undefined;

export function nvidiaGpus(): string[] {
  cachedGpus ??= listGpus();
  return cachedGpus;
}

function listGpus(): string[] {
  const r = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 20_000 });
  if (!r.error && r.status === 0) return r.stdout.split("\n").filter((l) => l.startsWith("GPU "));
  return existsSync("/dev/nvidia0") ? ["GPU 0 (/dev/nvidia0; nvidia-smi unavailable)"] : [];
}

/**
 * `true` when CUDA bundles can run here, else a sentence saying what is
 * missing and how to get it.
 *
 * @example
 * const ok = cudaAvailability(); // "no NVIDIA GPU found: ..." on a laptop without one
 */
export function cudaAvailability(): true | string {
  const gpus = nvidiaGpus();
  const nvcc = findNvcc();
  if (gpus.length === 0 && !nvcc) {
    return (
      "no NVIDIA GPU found (nvidia-smi lists none, no /dev/nvidia0) and nvcc is not installed; " +
      "run on a machine with an NVIDIA GPU, its driver and the CUDA toolkit"
    );
  }
  if (gpus.length === 0) {
    return (
      "no NVIDIA GPU found (nvidia-smi lists none, no /dev/nvidia0); nvcc is installed, " +
      'so compile(program, { target: "cuda" }) and cudaBundleSource(...) still produce and compile CUDA here, ' +
      "but running needs a GPU"
    );
  }
  if (!nvcc)
    return "an NVIDIA GPU is present but nvcc is not installed; install the CUDA toolkit or set NVCC=/path/to/nvcc";
  return true;
}

let cachedProfile: DeviceProfile | null | undefined;

/**
 * The device profile of GPU 0 from its compute capability (`nvidia-smi
 * --query-gpu=compute_cap`), or undefined when there is no GPU or no answer;
 * the backend compiles for it. Asked once per process.
 * @example cudaMachineProfile()?.computeCapability // 90 on an H100 / H200
 */
export function cudaMachineProfile(): DeviceProfile | undefined {
  if (cachedProfile === undefined) {
    const r = spawnSync("nvidia-smi", ["--query-gpu=compute_cap", "--format=csv,noheader"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    const m = !r.error && r.status === 0 ? /^(\d+)\.(\d)/.exec(r.stdout.trim()) : null;
    cachedProfile = m ? cudaDeviceProfile(Number(m[1]), Number(m[2])) : null;
  }
  return cachedProfile ?? undefined;
}
