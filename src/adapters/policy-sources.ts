/**
 * A policy directory as `opa build` and the runner read it: its source files, its revision (a
 * content hash), whether it defines the derived-settings entrypoint, and its settings schema
 * fragments. Read-only; build failures are PolicyBuildError values with catalogue codes.
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import type { ErrorCode } from '../errors/codes.ts';
import { FRAGMENT_FILE, type Fragments } from '../policy/settings-schema.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorFile, readOperatorText } from './operator-file.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/** The files of a policy directory that make a bundle (OPA_LOADS: Rego, JSON and YAML; a symlink to a file too), sorted by path. */
async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!OPA_LOADS.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    // a symlink to a file is compiled by opa build like the file itself (red team 16, finding 1)
    if (entry.isFile() || (entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile() === true))
      out.push(path);
  }
  return out.sort();
}

/**
 * The files `opa build` loads from a policy directory: Rego modules, and JSON and YAML documents as
 * data under their directory's path (not only data.json: red team 16, finding 1 — an extra.json
 * changed the compiled policy and not the revision). The revision covers all of them.
 */
const OPA_LOADS = /\.(rego|json|ya?ml)$/;

/**
 * Whether a policy directory defines the derived-settings rule (DERIVED_ENTRYPOINT, a rule
 * `derived` in package kubiya.main outside the tests): built as a second entrypoint when it does.
 * A directory from before it (an operator's copy) builds as it did and decides the same.
 */
export async function hasDerivedRule(dir: string): Promise<boolean> {
  for (const file of await sourceFiles(dir)) {
    if (!file.endsWith('.rego') || file.endsWith('_test.rego')) continue;
    const text = await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.policy);
    if (/^package kubiya\.main\s*$/m.test(text) && /^derived\s*:=/m.test(text)) return true;
  }
  return false;
}

/** Revision = content hash of the Rego sources and data: same inputs, same revision. */
export async function policyRevision(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await sourceFiles(dir)) {
    hash
      .update(relative(dir, file))
      .update('\0')
      .update(await readOperatorFile(file, OPERATOR_FILE_MAX_BYTES.policy))
      .update('\0');
  }
  return `sha256-${hash.digest('hex').slice(0, 16)}`;
}

/** A build failure with its catalogue code (POLICY_BUILD_FAILED, or POLICY_SETTINGS_INVALID). */
export class PolicyBuildError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The settings schema fragments of a policy directory: every `settings.schema.json`, keyed by the
 * name of the folder it is in (the rule package's name, which is its key under kubiya.settings).
 */
export async function readSettingsFragments(policyDir: string): Promise<Fragments> {
  const out: Record<string, unknown> = {};
  for (const entry of await readdir(policyDir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name !== FRAGMENT_FILE) continue;
    const key = basename(entry.parentPath);
    const file = join(entry.parentPath, entry.name);
    if (key in out)
      throw new PolicyBuildError(
        'POLICY_SETTINGS_INVALID',
        `two settings fragments for "${key}" (${relative(policyDir, file)})`,
      );
    try {
      out[key] = JSON.parse(await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.policy));
    } catch (e) {
      throw new PolicyBuildError('POLICY_SETTINGS_INVALID', `${relative(policyDir, file)}: ${parseProblem(e)}`);
    }
  }
  return out;
}

/** The deepest a policy directory handed to opa may nest, and the most entries it may hold. */
const MAX_TREE_DEPTH = 32;
const MAX_TREE_ENTRIES = 20_000;

/**
 * Checks a policy directory before `opa build` or `opa test` reads it: opa reads every file it
 * finds with a blocking read, so a FIFO held `policy build` for ever and a symlink to /dev/zero
 * was read without end (both still running after 20 s, 3 December). Every entry must be a
 * directory or a regular file of at most OPERATOR_FILE_MAX_BYTES.policy (a symlink is judged by
 * what it points to; a dangling one is left to opa's own message); at most 32 levels and 20,000
 * entries. Throws PolicyBuildError('POLICY_BUILD_FAILED') naming the path and what it is.
 */
export async function checkPolicyTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  if (entries.length > MAX_TREE_ENTRIES)
    throw new PolicyBuildError('POLICY_BUILD_FAILED', `${dir} holds more than ${MAX_TREE_ENTRIES} entries`);
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    if (relative(dir, path).split('/').length > MAX_TREE_DEPTH)
      throw new PolicyBuildError('POLICY_BUILD_FAILED', `${path} is nested deeper than ${MAX_TREE_DEPTH} directories`);
    if (entry.isDirectory()) continue;
    const target = entry.isSymbolicLink() ? await stat(path).catch(() => undefined) : undefined;
    if (entry.isSymbolicLink() && (target === undefined || target.isDirectory())) continue;
    const regular = entry.isFile() || target?.isFile() === true;
    if (!regular)
      throw new PolicyBuildError(
        'POLICY_BUILD_FAILED',
        `${path} is not a regular file or a directory: a policy directory holds only those (opa would read it without end)`,
      );
    const size = target?.size ?? (await stat(path)).size;
    if (size > OPERATOR_FILE_MAX_BYTES.policy)
      throw new PolicyBuildError(
        'POLICY_BUILD_FAILED',
        `${path} is larger than ${OPERATOR_FILE_MAX_BYTES.policy} bytes: refused before opa reads it`,
      );
  }
}
