// @ts-check
/**
 * The entry point's resolution cache (issue #20, start → ready; h-start-3). Of the ~3,900 module
 * resolutions a start of `serve` makes, ~3,600 name a package (`zod`, `undici`, `./gen/models/…`
 * inside `@kubernetes/client-node`): Node's resolver reads package.json scopes and `exports` maps
 * and realpaths every file for each of them, about a quarter of the CPU of loading the modules even
 * with a warm compile cache. Their answers only change when `node_modules` does, so a start records
 * them and the next one answers from the record (`module.registerHooks`, synchronous, in-thread).
 *
 * What is cached, and when it is trusted:
 * - only resolutions of a bare specifier (a package) or made from inside a `node_modules` file; a
 *   relative import of our own sources always goes to Node's resolver (a checkout's files change);
 *   `node:` builtins too;
 * - only answers that are `file:` URLs under the app's root or its `node_modules` (real paths):
 *   a record can never point the runner at code elsewhere;
 * - the record sits in the compile cache's own directory (bin/compile-cache.js: a real directory,
 *   owned by this uid, 0700, no ancestor another user could swap), so whoever could change it could
 *   already change the compiled code Node runs from the same place;
 * - the record is keyed by a fingerprint of what decides a resolution: Node's version and
 *   architecture, the app's root, and the identity (inode, size, mtime) of `package.json`,
 *   `package-lock.json`, `node_modules/.package-lock.json` (npm rewrites it on every install) and
 *   `node_modules` itself: any change there and the record is dropped and made again; a file it
 *   names that has gone all the same (removed by hand) fails that one start, and the record is
 *   removed with it;
 * - the record carries the SHA-256 of its entries: a damaged one (cut, emptied, a bit flipped in
 *   an answer) is ignored like an unreadable, malformed one or one of another fingerprint, and
 *   Node's resolver answers; a record that cannot be written only means the next start resolves
 *   again.
 */
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The record's file name in the cache directory: its format's version, and the app's root hashed,
 * so that the checkouts one user runs (all sharing the per-uid directory) keep one record each.
 * @param {string} root
 * @returns {string}
 */
export function resolutionsFile(root) {
  return `kubiya-resolutions-v1-${createHash('sha256').update(resolve(root)).digest('hex').slice(0, 16)}.json`;
}

/** The most answers a record holds (a start of `serve` makes ~3,600 cacheable resolutions). */
const MAX_ENTRIES = 20_000;

/** Formats Node's resolver answers with, for the modules a runner loads. */
const FORMATS = new Set(['module', 'commonjs', 'json', 'wasm', 'module-typescript', 'commonjs-typescript']);

/**
 * What decides how a package specifier resolves under `root` (see the module's header).
 * @param {string} root
 * @returns {string}
 */
export function fingerprint(root) {
  const parts = [process.version, process.arch, resolve(root)];
  // node_modules itself: its mtime moves when a package directory is added or removed by hand.
  for (const file of [
    'package.json',
    'package-lock.json',
    join('node_modules', '.package-lock.json'),
    'node_modules',
  ]) {
    try {
      const st = statSync(join(root, file));
      parts.push(`${file}:${st.ino}:${st.size}:${st.mtimeMs}`);
    } catch {
      parts.push(`${file}:absent`);
    }
  }
  return parts.join('|');
}

/**
 * The URL prefixes an answer may start with: the real paths of `root` and of its `node_modules`.
 * @param {string} root
 * @returns {string[]}
 */
function allowedPrefixes(root) {
  const prefixes = [];
  for (const dir of [root, join(root, 'node_modules')]) {
    try {
      prefixes.push(pathToFileURL(realpathSync(dir)).href + '/');
    } catch {
      // absent: nothing under it is cached
    }
  }
  return prefixes;
}

/**
 * Whether Node's answer for `specifier` from `parentURL` is one to cache: a package, or anything
 * asked from inside `node_modules`; never a builtin, never the entry point's own import.
 * @param {string} specifier
 * @param {string | undefined} parentURL
 * @returns {boolean}
 */
export function cacheable(specifier, parentURL) {
  if (parentURL === undefined || !parentURL.startsWith('file:') || specifier.startsWith('node:')) return false;
  if (parentURL.includes('/node_modules/')) return true;
  return !/^(\.{1,2}\/|\/|[a-z][a-z0-9+.-]*:)/i.test(specifier);
}

/**
 * @typedef {readonly [url: string, format: string | undefined]} Answer
 * @typedef {import('node:module').ResolveHookContext} ResolveContext
 */

/**
 * The key of one resolution: who asks, what, and under which conditions (`import` or `require`)
 * and attributes (`type: 'json'`).
 * @param {string} specifier
 * @param {ResolveContext} context
 * @returns {string}
 */
function keyOf(specifier, context) {
  return `${context.parentURL ?? ''}\0${specifier}\0${(context.conditions ?? []).join(',')}\0${context.importAttributes?.type ?? ''}`;
}

/**
 * The record's text: a header line (the fingerprint, and the SHA-256 of the rest) and the entries.
 * @param {string} print
 * @param {unknown[]} entries
 * @returns {string}
 */
export function recordText(print, entries) {
  const body = JSON.stringify(entries);
  return `${JSON.stringify({ fingerprint: print, sha256: createHash('sha256').update(body).digest('hex') })}\n${body}`;
}

/**
 * The entries of the record in `file` when it was written for this fingerprint and is whole (its
 * checksum matches: a damaged record, a bit flipped in an answer, is not followed); else none.
 * @param {string} file
 * @param {string} print
 * @returns {unknown[]}
 */
function recordEntries(file, print) {
  try {
    const text = readFileSync(file, 'utf8');
    const nl = text.indexOf('\n');
    /** @type {unknown} */
    const header = JSON.parse(text.slice(0, Math.max(nl, 0)));
    if (typeof header !== 'object' || header === null) return [];
    const { fingerprint: theirs, sha256 } = /** @type {{ fingerprint?: unknown; sha256?: unknown }} */ (header);
    const body = text.slice(nl + 1);
    if (theirs !== print || sha256 !== createHash('sha256').update(body).digest('hex')) return [];
    /** @type {unknown} */
    const entries = JSON.parse(body);
    return Array.isArray(entries) ? entries : [];
  } catch {
    return [];
  }
}

/**
 * The answers recorded in `file` for this fingerprint, each still within `allowed`; none when the
 * file is absent, damaged, malformed or from another fingerprint.
 * @param {string} file
 * @param {string} print
 * @param {readonly string[]} allowed
 * @returns {Map<string, Answer>}
 */
function readRecord(file, print, allowed) {
  /** @type {Map<string, Answer>} */
  const known = new Map();
  const entries = recordEntries(file, print);
  for (const entry of entries.slice(0, MAX_ENTRIES)) {
    if (!Array.isArray(entry) || entry.length !== 3) continue;
    /** @type {unknown[]} */
    const fields = entry;
    const [key, url, format] = fields;
    if (typeof key !== 'string' || typeof url !== 'string' || !allowed.some((p) => url.startsWith(p))) continue;
    if (format !== null && !(typeof format === 'string' && FORMATS.has(format))) continue;
    known.set(key, [url, format ?? undefined]);
  }
  return known;
}

/**
 * Answers package resolutions from the record in `dir` (the compile cache's checked directory) and
 * records the ones it did not know; `save()` writes the record when this process learnt anything
 * (a temporary file renamed over it, 0600). Call before the app's modules are imported.
 * @param {string} dir
 * @param {string} root the app's root: the directory holding package.json and node_modules
 * @returns {{ save: () => void; readonly stats: { known: number; hits: number; learnt: number } }}
 */
export function startResolutionCache(dir, root) {
  const file = join(dir, resolutionsFile(root));
  const print = fingerprint(root);
  const allowed = allowedPrefixes(root);
  const known = readRecord(file, print, allowed);
  /** @type {Map<string, Answer>} */
  const learnt = new Map();
  const stats = { known: known.size, hits: 0, learnt: 0 };
  /** @type {Set<string>} */
  const answered = new Set();
  module.registerHooks({
    resolve(specifier, context, next) {
      if (!cacheable(specifier, context.parentURL)) return next(specifier, context);
      const key = keyOf(specifier, context);
      const hit = known.get(key);
      if (hit !== undefined) {
        stats.hits++;
        answered.add(hit[0]);
        return { url: hit[0], format: hit[1], shortCircuit: true };
      }
      const answer = next(specifier, context);
      const format = answer.format ?? undefined;
      if (allowed.some((p) => answer.url.startsWith(p)) && (format === undefined || FORMATS.has(format))) {
        learnt.set(key, [answer.url, format]);
        stats.learnt = learnt.size;
      }
      return answer;
    },
    // A file the record named that cannot be loaded (gone since, by a change the fingerprint does
    // not see): the record goes, so that this failure is the only one; the next start resolves.
    load(url, context, next) {
      try {
        return next(url, context);
      } catch (e) {
        if (answered.has(url)) rmSync(file, { force: true });
        throw e;
      }
    },
  });
  const save = () => {
    if (learnt.size === 0) return;
    // A record that would grow past its bound starts again from what this process resolved.
    const kept = known.size + learnt.size > MAX_ENTRIES ? [...learnt] : [...known, ...learnt];
    const entries = kept.slice(0, MAX_ENTRIES).map(([k, [url, format]]) => [k, url, format ?? null]);
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, recordText(print, entries), { mode: 0o600, flag: 'wx' });
      renameSync(temporary, file);
      for (const [k, v] of learnt) known.set(k, v);
      learnt.clear();
    } catch {
      // not written: the next start resolves those again
    }
  };
  return { save, stats };
}
