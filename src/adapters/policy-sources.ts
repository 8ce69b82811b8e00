/**
 * A policy directory as `opa build` and the runner read it, from its snapshot
 * (src/adapters/policy-snapshot.ts: the directory read once, the copy opa reads): its revision (a
 * content hash), whether it defines the derived-settings entrypoint, and its settings schema
 * fragments. Build failures are PolicyBuildError values with catalogue codes.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { FRAGMENT_FILE, type Fragments } from '../policy/settings-schema.ts';
import { parseProblem } from '../errors/parse-problem.ts';
import { PolicyBuildError } from './policy-build-error.ts';
import { withPolicySnapshot, type PolicySnapshot } from './policy-snapshot.ts';

export { PolicyBuildError } from './policy-build-error.ts';

const utf8 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');

/**
 * Whether the policies define the derived-settings rule (DERIVED_ENTRYPOINT, a rule `derived` in
 * package kubiya.main outside the tests): built as a second entrypoint when they do. A directory
 * from before it (an operator's copy) builds as it did and decides the same.
 */
export function hasDerivedRule(snapshot: Pick<PolicySnapshot, 'files'>): boolean {
  for (const [file, bytes] of snapshot.files) {
    if (!file.endsWith('.rego') || file.endsWith('_test.rego')) continue;
    const text = utf8(bytes);
    if (/^package kubiya\.main\s*$/m.test(text) && /^derived\s*:=/m.test(text)) return true;
  }
  return false;
}

/**
 * Revision = content hash of every file the snapshot holds (each file opa loads, at the path opa
 * gives it, symlinked directories included): same inputs, same revision. `sha256-` and the first
 * 16 hex digits of SHA-256 over each path, NUL, its bytes, NUL, in path order.
 */
export function snapshotRevision(snapshot: Pick<PolicySnapshot, 'files'>): string {
  const hash = createHash('sha256');
  for (const [file, bytes] of snapshot.files) hash.update(file).update('\0').update(bytes).update('\0');
  return `sha256-${hash.digest('hex').slice(0, 16)}`;
}

/**
 * The revision of the policy directory `dir` as it is now: snapshotRevision of a fresh read.
 * Throws what withPolicySnapshot throws (PolicyBuildError for what opa could not read).
 */
export async function policyRevision(dir: string): Promise<string> {
  return withPolicySnapshot(dir, (snapshot) => Promise.resolve(snapshotRevision(snapshot)));
}

/**
 * The settings schema fragments of the policies: every `settings.schema.json`, keyed by the name
 * of the folder it is in (the rule package's name, which is its key under kubiya.settings).
 * Throws PolicyBuildError('POLICY_SETTINGS_INVALID') for two fragments of one name or a fragment
 * that is not JSON (where, never its text).
 */
export function readSettingsFragments(snapshot: Pick<PolicySnapshot, 'files'>): Fragments {
  const out: Record<string, unknown> = {};
  for (const [file, bytes] of snapshot.files) {
    if (posix.basename(file) !== FRAGMENT_FILE) continue;
    const key = posix.basename(posix.dirname(file));
    if (key in out)
      throw new PolicyBuildError('POLICY_SETTINGS_INVALID', `two settings fragments for "${key}" (${file})`);
    try {
      out[key] = JSON.parse(utf8(bytes));
    } catch (e) {
      throw new PolicyBuildError('POLICY_SETTINGS_INVALID', `${file}: ${parseProblem(e)}`);
    }
  }
  return out;
}
