// Source lines are at most 150 columns (prettier wraps code at 120 but leaves strings and comments alone).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const MAX_COLUMNS = 150;
const root = new URL("../..", import.meta.url).pathname;
const SOURCE = /\.(ts|mjs|js)$/;
const SKIP = new Set(["node_modules", "dist", "out", ".tmp", ".git"]);

/** The repository's .ts/.mjs/.js files: what git tracks or would add; a walk of the folders where git is missing. */
function sourceFiles(): string[] {
  try {
    const listed = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return listed.split("\n").filter((f) => SOURCE.test(f));
  } catch {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? SKIP.has(e.name)
            ? []
            : walk(join(dir, e.name))
          : SOURCE.test(e.name)
            ? [relative(root, join(dir, e.name))]
            : [],
      );
    return walk(root);
  }
}

/** `file:line (N columns)` for each line of `text` longer than `max` columns. */
function longLines(file: string, text: string, max = MAX_COLUMNS): string[] {
  return text
    .split(/\r?\n/)
    .flatMap((line, i) => (line.length > max ? [`${file}:${i + 1} (${line.length} columns)`] : []));
}

describe("line length", () => {
  it("finds a long line and names its file and line", () => {
    expect(longLines("a.ts", `short\n${"x".repeat(MAX_COLUMNS)}\n${"y".repeat(MAX_COLUMNS + 1)}\n`)).toEqual([
      `a.ts:3 (${MAX_COLUMNS + 1} columns)`,
    ]);
  });

  it(`every .ts/.mjs/.js source line is at most ${MAX_COLUMNS} columns`, () => {
    const files = sourceFiles();
    expect(files).toContain("test/architecture/line_length.test.ts");
    const long = files.flatMap((f) => {
      let text: string;
      try {
        text = readFileSync(join(root, f), "utf8");
      } catch {
        return []; // listed by git but deleted in the working tree
      }
      return longLines(f, text);
    });
    expect(long).toEqual([]);
  });
});
