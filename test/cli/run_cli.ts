/**
 * Runs the CLI in this process (`main(argv)`), capturing stdout and stderr:
 * fast enough to test every error case. `spawnCli` runs the real entry point
 * in a child process (exit code, nothing printed but the message).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { main } from "../../cli/main";

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCli(args: readonly string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => (
    (stdout += String(chunk)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (
    (stderr += String(chunk)),
    true
  )) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = before;
  }
}

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** The CLI as a user runs it: `node --import tsx cli/main.ts ...` (until the package's built bin lands). */
export function spawnCli(args: readonly string[]): CliResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", "cli/main.ts", ...args], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
