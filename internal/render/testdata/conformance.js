// conformance.js renders a batch of Handlebars templates with the real handlebars.js, as the
// reference for internal/render's conformance test.
//
// Usage: node conformance.js REPO_ROOT < cases.json > results.json
//   cases.json:   [{"id": "...", "template": "...", "context": {...}}, ...]
//   results.json: [{"id": "...", "output": "..."} or {"id": "...", "error": "..."}, ...]
//
// handlebars is required from REPO_ROOT/node_modules (npm's handlebars 4.7.x). The helpers below
// implement the orchestrator's semantics, the same as internal/render's Go helpers.
'use strict';

const path = require('path');
const fs = require('fs');

const root = process.argv[2] || path.resolve(__dirname, '..', '..', '..');
const Handlebars = require(path.join(root, 'node_modules', 'handlebars'));

// compareCodePoints orders strings by Unicode code point (not UTF-16 code unit, as < does).
function compareCodePoints(a, b) {
  const x = Array.from(a), y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length === y.length ? 0 : (x.length < y.length ? -1 : 1);
}

// sortedKeys returns an object's keys in code point order.
function sortedKeys(o) {
  return Object.keys(o).sort(compareCodePoints);
}

// stringify is JSON.stringify with object keys in sorted order.
function stringify(v) {
  if (v === undefined || v === null) return 'null';
  if (Array.isArray(v)) return '[' + v.map(stringify).join(',') + ']';
  if (typeof v === 'object') {
    return '{' + sortedKeys(v).map(k => JSON.stringify(k) + ':' + stringify(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

// parseJSONPath parses $, .name, .*, ['name'], ["name"], [n], [*] and .. (recursive descent).
function parseJSONPath(p) {
  if (p[0] !== '$') throw new Error('a JSONPath starts with $');
  const steps = [];
  let i = 1;
  while (i < p.length) {
    const step = { kind: 'name', recursive: false };
    if (p.startsWith('..', i)) {
      step.recursive = true;
      i += 2;
    } else if (p[i] === '.') {
      i++;
    } else if (p[i] !== '[') {
      throw new Error('unexpected ' + p[i]);
    }
    if (p[i] === '[') {
      const close = p.indexOf(']', i);
      if (close < 0) throw new Error('unclosed [');
      const inner = p.slice(i + 1, close).trim();
      if (inner === '*') {
        step.kind = 'wildcard';
        i = close + 1;
      } else if (inner[0] === '\'' || inner[0] === '"') {
        const q = inner[0];
        let j = p.indexOf(q, i) + 1, name = '';
        for (; j < p.length && p[j] !== q; j++) {
          if (p[j] === '\\' && j + 1 < p.length) j++;
          name += p[j];
        }
        j++;
        while (p[j] === ' ') j++;
        if (p[j] !== ']') throw new Error('expected ]');
        step.name = name;
        i = j + 1;
      } else {
        if (!/^-?[0-9]+$/.test(inner)) throw new Error('bad index');
        step.kind = 'index';
        step.index = parseInt(inner, 10);
        i = close + 1;
      }
    } else {
      let end = i;
      while (end < p.length && p[end] !== '.' && p[end] !== '[') end++;
      step.name = p.slice(i, end);
      if (step.name === '') throw new Error('missing name');
      if (step.name === '*') step.kind = 'wildcard';
      i = end;
    }
    steps.push(step);
  }
  return steps;
}

// children returns an array's elements or an object's values in sorted key order.
function children(v) {
  if (Array.isArray(v)) return v;
  if (v !== null && typeof v === 'object') return sortedKeys(v).map(k => v[k]);
  return [];
}

// descendants returns v and everything below it, depth first.
function descendants(v, out) {
  out.push(v);
  children(v).forEach(c => descendants(c, out));
  return out;
}

// applyStep appends what step selects in v to out.
function applyStep(step, v, out) {
  if (step.kind === 'wildcard') {
    out.push(...children(v));
  } else if (step.kind === 'index') {
    if (Array.isArray(v)) {
      const i = step.index < 0 ? step.index + v.length : step.index;
      if (i >= 0 && i < v.length) out.push(v[i]);
    }
  } else if (v !== null && v !== undefined && typeof v === 'object') {
    if (Object.prototype.hasOwnProperty.call(v, step.name)) out.push(v[step.name]);
  } else if (typeof v === 'string' && step.name === 'length') {
    out.push(v.length);
  }
}

// jsonPath returns every match of p in root.
function jsonPath(p, root) {
  let nodes = [root];
  for (const step of parseJSONPath(p)) {
    const next = [];
    for (const n of nodes) {
      for (const d of step.recursive ? descendants(n, []) : [n]) applyStep(step, d, next);
    }
    nodes = next;
  }
  return nodes;
}

// argCount is how many arguments a helper was given (without handlebars' options).
function argCount(args) {
  return args.length - 1; // the last argument is handlebars' options
}

// registerHelpers adds the orchestrator's helpers to hb.
function registerHelpers(hb) {
  hb.registerHelper('json', function (v) {
    if (argCount(arguments) !== 1) throw new Error('json takes 1 argument');
    if (v === undefined || v === null) return 'null';
    return typeof v === 'string' ? v : stringify(v);
  });
  hb.registerHelper('default', function (v, d) {
    if (argCount(arguments) !== 2) throw new Error('default takes 2 arguments');
    return v === undefined || v === null ? d : v;
  });
  hb.registerHelper('eq', function (a, b) {
    if (argCount(arguments) !== 2) throw new Error('eq takes 2 arguments');
    return a === b;
  });
  hb.registerHelper('neq', function (a, b) {
    if (argCount(arguments) !== 2) throw new Error('neq takes 2 arguments');
    return a !== b;
  });
  const order = (a, b) => {
    if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
    if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
    return 0;
  };
  hb.registerHelper('gt', function (a, b) {
    if (argCount(arguments) !== 2) throw new Error('gt takes 2 arguments');
    return order(a, b) > 0;
  });
  hb.registerHelper('lt', function (a, b) {
    if (argCount(arguments) !== 2) throw new Error('lt takes 2 arguments');
    return order(a, b) < 0;
  });
  hb.registerHelper('base64', function (v) {
    if (argCount(arguments) !== 1) throw new Error('base64 takes 1 argument');
    return v === undefined || v === null ? '' : Buffer.from(String(v), 'utf8').toString('base64');
  });
  hb.registerHelper('slice', function (arr, start, end) {
    const n = argCount(arguments);
    if (n < 2 || n > 3) throw new Error('slice takes 2 to 3 arguments');
    if (!Array.isArray(arr)) return [];
    return n === 3 ? arr.slice(start, end) : arr.slice(start);
  });
  hb.registerHelper('with_json_path', function (p, options) {
    if (argCount(arguments) !== 1 || typeof p !== 'string') throw new Error('with_json_path takes a JSONPath');
    const m = jsonPath(p, this);
    const v = m.length === 0 ? undefined : m.length === 1 ? m[0] : m;
    return options.fn(this, { data: options.data, blockParams: [v] });
  });
}

// main renders every case read from stdin and writes the results to stdout.
function main() {
  const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
  const hb = Handlebars.create();
  registerHelpers(hb);
  const results = cases.map(c => {
    try {
      const output = hb.compile(c.template, { noEscape: true })(c.context);
      return { id: c.id, output: output };
    } catch (e) {
      return { id: c.id, error: String(e && e.message || e) };
    }
  });
  process.stdout.write(JSON.stringify(results));
}

main();
