#!/usr/bin/env node
// kqlsyntax: parse a batch of KQL queries with Microsoft's Kusto.Language parser (the package
// kqlcheck.js uses) and print each query's syntax tree as JSON, for stormpack's KQL executor
// (compiler/stormpack/execute/kql/). Parsing only: no schema, no semantic analysis.
//
// stdin  (JSON): {"queries": ["...", ...]}
// stdout (JSON): {"parser": "@kusto/language-service-next@<version>", "results": [Result, ...]}
//   Result: {"errors": [{"message", "start", "length"}], "tree": Node}
//   Node:   token      {"k": SyntaxKind, "t": text}
//           List       {"k": "List", "items": [Node, ...]}   (separators dropped)
//           otherwise  {"k": SyntaxKind, "<ChildName>": Node, ...}
//                      + "v": the unescaped value of a string literal (LiteralValueInfo.ValueText)
//                      + "n": the simple name of a NameReference / NameDeclaration
// With --serve: one request per stdin line, one answer per stdout line, until stdin closes
// (the Python executor keeps one process for a whole test run).
// A malformed request prints "kqlsyntax: <what is wrong>" on stderr and exits with 2.
"use strict";

const fs = require("fs");
const path = require("path");

const PKG_DIR = path.join(__dirname, "node_modules", "@kusto", "language-service-next");

function fail(message) {
  process.stderr.write(`kqlsyntax: ${message}\n`);
  process.exit(2);
}

function loadKusto() {
  if (!fs.existsSync(path.join(PKG_DIR, "Kusto.Language.Bridge.js"))) {
    fail(`${PKG_DIR} is missing; run 'make setup' (npm ci in tools/kqlcheck)`);
  }
  require(path.join(PKG_DIR, "bridge.js"));
  require(path.join(PKG_DIR, "Kusto.Language.Bridge.js"));
  return JSON.parse(fs.readFileSync(path.join(PKG_DIR, "package.json"), "utf8")).version;
}

let SK;

function dump(n) {
  const k = System.Enum.getName(SK, n.Kind);
  if (n.IsToken) return { k, t: n.Text };
  if (k === "List") {
    const items = [];
    for (let i = 0; i < n.ChildCount; i++) {
      let c = n.GetChild(i);
      if (!c) continue;
      if (System.Enum.getName(SK, c.Kind) === "SeparatedElement") c = c.Element;
      if (c) items.push(dump(c));
    }
    return { k, items };
  }
  const o = { k };
  for (let i = 0; i < n.ChildCount; i++) {
    const c = n.GetChild(i);
    if (c) o[n.GetName(i) || `_${i}`] = dump(c);
  }
  if (Bridge.is(n, Kusto.Language.Syntax.LiteralExpression) && n.LiteralValueInfo) {
    const v = n.LiteralValueInfo.ValueText;
    if (v !== null && v !== undefined) o.v = String(v);
  }
  if (Bridge.is(n, Kusto.Language.Syntax.NameReference) || Bridge.is(n, Kusto.Language.Syntax.NameDeclaration)) {
    o.n = n.SimpleName;
  }
  return o;
}

function answer(raw, version) {
  let req;
  try {
    req = JSON.parse(raw);
  } catch (e) {
    fail(`request is not valid JSON: ${e.message}`);
  }
  if (req === null || typeof req !== "object" || !Array.isArray(req.queries) ||
      !req.queries.every((q) => typeof q === "string")) {
    fail("request must be {\"queries\": [string, ...]}");
  }
  const results = req.queries.map((q) => {
    const code = Kusto.Language.KustoCode.Parse(q);
    const diags = code.GetDiagnostics();
    const errors = [];
    for (let i = 0; i < diags.Count; i++) {
      const d = diags.getItem(i);
      errors.push({ message: d.Message, start: d.Start, length: d.Length });
    }
    return { errors, tree: dump(code.Syntax) };
  });
  return JSON.stringify({ parser: `@kusto/language-service-next@${version}`, results }) + "\n";
}

function main() {
  const version = loadKusto();
  SK = Kusto.Language.Syntax.SyntaxKind;
  if (process.argv.includes("--serve")) {
    const rl = require("readline").createInterface({ input: process.stdin, terminal: false });
    rl.on("line", (line) => {
      if (line.trim()) process.stdout.write(answer(line, version));
    });
    return;
  }
  process.stdout.write(answer(fs.readFileSync(0, "utf8"), version));
}

main();
