/** Gradient properties of the indexing cases (cases and run counts: cases/indexing.ts, docs/GRADIENT-CHECKS.md). */
import { indexingCases } from "./cases/indexing";
import { describeGradCases } from "./helpers";

describeGradCases(indexingCases);
