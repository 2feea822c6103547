/**
 * The call-site finder reads stacks as Node and browsers print them, and skips
 * moeforge's own frames both from source and from the published build.
 */
import { describe, expect, it } from "vitest";
import { callSiteFromStack } from "../../dsl/call_site";

const SOURCE = "file:///repo/dsl/call_site.ts";

describe("callSiteFromStack", () => {
  it("Node ESM (file: URLs) and paths: skips library folders, node: internals and node_modules", () => {
    const stack = [
      "Error",
      "    at userCallSite (file:///repo/dsl/call_site.ts:70:17)",
      "    at withCallSite (/repo/dsl/trace.ts:109:18)",
      "    at Object.add (file:///repo/index.ts:3:1)",
      "    at run (node:internal/modules/run_main:1:1)",
      "    at x (/repo/node_modules/vitest/dist/index.js:5:5)",
      "    at model (file:///repo/examples/my%20model.ts:12:34)",
    ].join("\n");
    expect(callSiteFromStack(stack, SOURCE)).toBe("/repo/examples/my model.ts:12:34");
  });

  it("Chromium frames of a bundled build: every file next to the build is library code", () => {
    const built = "http://localhost:8000/dist/chunk-AB12.js";
    const stack = [
      "Error",
      "    at userCallSite (http://localhost:8000/dist/chunk-AB12.js:10:5)",
      "    at http://localhost:8000/dist/index.js:20:7",
      "    at main (http://localhost:8000/app.js:3:9)",
    ].join("\n");
    expect(callSiteFromStack(stack, built)).toBe("http://localhost:8000/app.js:3:9");
  });

  it("Firefox/Safari frames (fn@url:line:col) and Windows paths", () => {
    const firefox = ["Error", "userCallSite@http://h/x/moeforge.js:1:2", "main@http://h/app.js:7:8"].join("\n");
    expect(callSiteFromStack(firefox, "http://h/x/moeforge.js")).toBe("http://h/app.js:7:8");
    const windows = ["Error", "    at f (C:\\repo\\dsl\\ops.ts:1:1)", "    at g (C:\\app\\main.ts:4:2)"].join("\n");
    expect(callSiteFromStack(windows, "file:///C:/repo/dsl/call_site.ts")).toBe("C:\\app\\main.ts:4:2");
  });

  it("no user frame: undefined", () => {
    expect(callSiteFromStack("Error\n    at f (file:///repo/dsl/ops.ts:1:1)", SOURCE)).toBeUndefined();
  });
});
