#!/usr/bin/env node
// kqlcheck: check a batch of KQL queries with Microsoft's Kusto.Language parser
// (npm @kusto/language-service-next, pinned in package.json) against a table schema, and
// describe each query's structure so tests can assert on it without regexes.
//
// stdin  (JSON): {"schema": {Table: {Column: type}},
//                 "functions": {Name: {"parameters": "(a:string)", "body": "{ ... }"}},   optional
//                 "queries": ["...", ...]}
// stdout (JSON): {"parser": "@kusto/language-service-next@<version>", "results": [Result, ...]}
//   one Result per query, in order; see README.md in this folder for the exact shape.
// A malformed request prints "kqlcheck: <what is wrong>" on stderr and exits with 2.
// Exit 0 means the batch was checked (not that the queries are free of errors).
"use strict";

const fs = require("fs");
const path = require("path");

const PKG_DIR = path.join(__dirname, "node_modules", "@kusto", "language-service-next");
const SCALAR_TYPES = new Set([
  "string", "int", "long", "real", "double", "decimal", "bool", "boolean", "datetime", "date",
  "timespan", "time", "guid", "uniqueid", "dynamic",
]);

class RequestError extends Error {}

function fail(message) {
  process.stderr.write(`kqlcheck: ${message}\n`);
  process.exit(2);
}

function loadKusto() {
  if (!fs.existsSync(path.join(PKG_DIR, "Kusto.Language.Bridge.js"))) {
    fail(`${PKG_DIR} is missing; run 'make setup' (npm ci in tools/kqlcheck)`);
  }
  require(path.join(PKG_DIR, "bridge.js")); // defines the global Bridge / System
  require(path.join(PKG_DIR, "Kusto.Language.Bridge.js")); // defines the global Kusto
  const version = JSON.parse(fs.readFileSync(path.join(PKG_DIR, "package.json"), "utf8")).version;
  return version;
}

// ---------------------------------------------------------------------------------------------
// request validation

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function validateRequest(req) {
  if (!isPlainObject(req)) throw new RequestError("request must be a JSON object");
  for (const key of Object.keys(req)) {
    if (!["schema", "functions", "queries"].includes(key)) {
      throw new RequestError(`unknown request key '${key}' (expected schema, functions, queries)`);
    }
  }
  if (!isPlainObject(req.schema)) throw new RequestError("'schema' must be an object {Table: {Column: type}}");
  for (const [table, cols] of Object.entries(req.schema)) {
    if (!isPlainObject(cols)) throw new RequestError(`schema table '${table}' must map column names to types`);
    for (const [col, ty] of Object.entries(cols)) {
      if (typeof ty !== "string" || !SCALAR_TYPES.has(ty)) {
        throw new RequestError(`schema column '${table}.${col}' has unknown type ${JSON.stringify(ty)}`);
      }
    }
  }
  const functions = req.functions === undefined ? {} : req.functions;
  if (!isPlainObject(functions)) throw new RequestError("'functions' must be an object {Name: {parameters, body}}");
  for (const [name, fn] of Object.entries(functions)) {
    if (!isPlainObject(fn) || typeof fn.parameters !== "string" || typeof fn.body !== "string") {
      throw new RequestError(`function '${name}' needs string 'parameters' and 'body'`);
    }
  }
  if (!Array.isArray(req.queries) || !req.queries.every((q) => typeof q === "string")) {
    throw new RequestError("'queries' must be an array of strings");
  }
  return { schema: req.schema, functions, queries: req.queries };
}

// ---------------------------------------------------------------------------------------------
// schema -> Kusto.Language symbols

function buildGlobals(schema, functions) {
  const S = Kusto.Language.Symbols;
  const members = [];
  for (const [table, cols] of Object.entries(schema)) {
    const columns = Object.entries(cols).map(
      ([col, ty]) => new S.ColumnSymbol(col, S.ScalarTypes.GetSymbol(ty), null, null, null, null));
    members.push(new S.TableSymbol.$ctor4(table, columns));
  }
  for (const [name, fn] of Object.entries(functions)) {
    members.push(new S.FunctionSymbol.$ctor16(name, fn.parameters, fn.body, fn.description || null));
  }
  const db = new S.DatabaseSymbol.$ctor2("stormpack", null, members);
  return Kusto.Language.GlobalState.Default.WithDatabase(db);
}

// ---------------------------------------------------------------------------------------------
// syntax tree helpers

let SK; // Kusto.Language.Syntax.SyntaxKind
let MINIMAL; // IncludeTrivia.Minimal

function kindName(n) {
  return System.Enum.getName(SK, n.Kind);
}

function text(n) {
  return n.ToString(MINIMAL);
}

function children(n) {
  const out = [];
  for (let i = 0; i < n.ChildCount; i++) {
    const c = n.GetChild(i);
    if (c) out.push(c);
  }
  return out;
}

function* descendants(n) {
  yield n;
  for (const c of children(n)) yield* descendants(c);
}

function isA(n, typeName) {
  return Bridge.is(n, Kusto.Language.Syntax[typeName]);
}

function isSymbol(s, typeName) {
  return s !== null && s !== undefined && Bridge.is(s, Kusto.Language.Symbols[typeName]);
}

function isLiteral(n) {
  return isA(n, "LiteralExpression") || isA(n, "CompoundStringLiteralExpression");
}

function typeName(n) {
  return n.ResultType ? n.ResultType.Name : null;
}

// A string literal (plain, verbatim @"", obfuscated h"", or adjacent parts "a" "b") decoded by
// the parser itself: LiteralValueInfo.ValueText is "the unescaped value of a string literal".
function operand(n) {
  if (isLiteral(n)) {
    return { literal: true, type: typeName(n), text: text(n), value: n.LiteralValueInfo.ValueText };
  }
  return { literal: false, type: typeName(n), text: text(n), value: null };
}

function columnsIn(n) {
  const cols = [];
  for (const d of descendants(n)) {
    if (isA(d, "NameReference") && isSymbol(d.ReferencedSymbol, "ColumnSymbol")) {
      if (!cols.includes(d.ReferencedSymbol.Name)) cols.push(d.ReferencedSymbol.Name);
    }
  }
  return cols;
}

// ---------------------------------------------------------------------------------------------
// where predicates: boolean structure + flat comparison list

function unparen(n) {
  while (isA(n, "ParenthesizedExpression")) n = n.Expression;
  return n;
}

function functionName(call) {
  return text(call.Name);
}

function callArgs(call) {
  return children(call.ArgumentList.Expressions).map((el) => el.Element);
}

// The operands of a comparison's right-hand side: the elements of an `in`/`has_any` list, the
// two bounds of `between`, or the expression itself.
function rightOperands(r) {
  if (isA(r, "ExpressionList")) return children(r.Expressions).map((el) => el.Element);
  if (isA(r, "ExpressionCouple")) return [r.First, r.Second];
  return [r];
}

function leafComparison(n) {
  const kind = kindName(n);
  if (n.Left !== undefined && n.Operator !== undefined && n.Right !== undefined && n.Left && n.Right) {
    // BinaryExpression, InExpression (in, in~, !in, has_any...), HasAllExpression, BetweenExpression
    return { kind, op: text(n.Operator), left: text(n.Left), left_columns: columnsIn(n.Left),
      right: rightOperands(n.Right).map(operand), text: text(n) };
  }
  if (isA(n, "FunctionCallExpression")) {
    const args = callArgs(n);
    const left = args.length ? args[0] : null;
    return { kind, op: functionName(n), left: left ? text(left) : "", left_columns: left ? columnsIn(left) : [],
      right: args.slice(1).map(operand), text: text(n) };
  }
  return { kind, op: null, left: text(n), left_columns: columnsIn(n), right: [], text: text(n) };
}

function predicateLogic(node, comparisons) {
  const n = unparen(node);
  if (isA(n, "BinaryExpression") && (n.Kind === SK.AndExpression || n.Kind === SK.OrExpression)) {
    const key = n.Kind === SK.AndExpression ? "and" : "or";
    const parts = [];
    const flatten = (m) => {
      const u = unparen(m);
      if (isA(u, "BinaryExpression") && u.Kind === n.Kind) {
        flatten(u.Left);
        flatten(u.Right);
      } else {
        parts.push(predicateLogic(u, comparisons));
      }
    };
    flatten(n);
    return { [key]: parts };
  }
  if (isA(n, "FunctionCallExpression") && functionName(n) === "not" && callArgs(n).length === 1) {
    return { not: predicateLogic(callArgs(n)[0], comparisons) };
  }
  comparisons.push(leafComparison(n));
  return { cmp: comparisons.length - 1 };
}

function describeFilter(f, statementIndex, topLevelOps) {
  const comparisons = [];
  const logic = f.Condition ? predicateLogic(f.Condition, comparisons) : null;
  return {
    statement: statementIndex,
    nested: !topLevelOps.has(f),
    predicate: f.Condition ? text(f.Condition) : "",
    logic,
    comparisons,
  };
}

// ---------------------------------------------------------------------------------------------
// statements and pipelines

function pipeline(expr) {
  const ops = [];
  let n = expr;
  while (isA(n, "PipeExpression")) {
    ops.unshift(n.Operator);
    n = n.Expression;
  }
  return { source: n, operators: ops };
}

function describeOperator(op) {
  const first = op.GetFirstToken();
  return { name: first ? first.Text : "", kind: kindName(op), text: text(op) };
}

function describeStatement(st, index, topLevelOps) {
  const out = { kind: kindName(st), text: text(st), source: null, operators: [] };
  let expr = null;
  if (isA(st, "ExpressionStatement")) expr = st.Expression;
  else if (isA(st, "LetStatement")) {
    out.name = text(st.Name);
    expr = st.Expression;
  }
  if (expr) {
    const p = pipeline(expr);
    out.source = { kind: kindName(p.source), text: text(p.source) };
    out.operators = p.operators.map(describeOperator);
    for (const op of p.operators) topLevelOps.add(op);
  }
  return out;
}

function analyze(query, globals) {
  const code = Kusto.Language.KustoCode.ParseAndAnalyze(query, globals);
  const diags = code.GetDiagnostics();
  const diagnostics = [];
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    diagnostics.push({ severity: String(d.Severity), code: d.Code, message: d.Message, start: d.Start, length: d.Length });
  }
  const root = code.Syntax;
  const statements = [];
  const topLevelOps = new Set();
  const statementNodes = [];
  if (isA(root, "QueryBlock")) {
    children(root.Statements).forEach((el) => statementNodes.push(el.Element));
  }
  statementNodes.forEach((st, i) => statements.push(describeStatement(st, i, topLevelOps)));

  const filters = [];
  const stringLiterals = [];
  const tables = [];
  statementNodes.forEach((st, i) => {
    for (const d of descendants(st)) {
      if (isA(d, "FilterOperator")) filters.push(describeFilter(d, i, topLevelOps));
      if (isLiteral(d) && typeName(d) === "string") {
        stringLiterals.push({ text: text(d), value: d.LiteralValueInfo.ValueText, start: d.TextStart });
      }
      if (isA(d, "NameReference") && isSymbol(d.ReferencedSymbol, "TableSymbol")) {
        if (!tables.includes(d.ReferencedSymbol.Name)) tables.push(d.ReferencedSymbol.Name);
      }
    }
  });
  return { diagnostics, statements, filters, string_literals: stringLiterals, tables };
}

// ---------------------------------------------------------------------------------------------

function main() {
  // A reader that stops early (`| head`) is not an error of the checker.
  process.stdout.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  let raw;
  try {
    raw = fs.readFileSync(0, "utf8");
  } catch (e) {
    fail(`cannot read stdin: ${e.message}`);
  }
  let req;
  try {
    req = validateRequest(JSON.parse(raw));
  } catch (e) {
    if (e instanceof SyntaxError) fail(`request is not valid JSON: ${e.message}`);
    if (e instanceof RequestError) fail(e.message);
    throw e;
  }
  const version = loadKusto();
  SK = Kusto.Language.Syntax.SyntaxKind;
  MINIMAL = Kusto.Language.Syntax.IncludeTrivia.Minimal;
  const globals = buildGlobals(req.schema, req.functions);
  const results = req.queries.map((q, i) => {
    try {
      return analyze(q, globals);
    } catch (e) {
      process.stderr.write(`kqlcheck: internal error on query ${i} (${JSON.stringify(q.slice(0, 200))}): ${e && e.stack}\n`);
      process.exit(3);
    }
  });
  process.stdout.write(JSON.stringify({ parser: `@kusto/language-service-next@${version}`, results }));
  process.stdout.write("\n");
}

main();
