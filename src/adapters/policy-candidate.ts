import { keyId } from '../audit/keys.ts';
import type { KeyObject } from 'node:crypto';
import { DECISION_ENTRYPOINT, type PolicyEngine } from '../evaluate/policy-engine.ts';
import type { ErrorCode } from '../errors/codes.ts';
import { verifyBundleFiles } from '../policy/bundle-signature.ts';
import { bundleFixtures, candidateProblems } from '../policy/candidate.ts';
import { effectiveData, overlayRevision, settingsOf, unsignedOverlayProblem } from '../policy/overlay.ts';
import { checkPolicyData, fragmentsOf } from '../policy/settings-schema.ts';
import { bundleOf, loadEngine, readBundleFiles } from './opa-wasm.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from './operator-file.ts';

/**
 * Loading and checking one candidate policy bundle (for policy-store.ts PolicyStore, at start, on
 * reload and on adoption): signature, settings schema, the settings file laid over the bundle,
 * entrypoint, fixtures, canary. A candidate that fails any check is refused with an Error whose
 * message starts with its catalogue code where it has one.
 */

/**
 * A refused candidate with its catalogue code; its message starts with the code, as the reason a
 * reload rejection logs. At start, `serve` exits with the code (src/app/server.ts StartupError).
 */
export class PolicyCandidateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

/** A checked candidate: its engine and the `kubiya.settings` it decides with (schema-checked, deep-frozen). */
export interface Candidate {
  readonly engine: PolicyEngine;
  readonly settings: unknown;
}

/** Where a candidate comes from and what it must be signed with. */
export interface CandidateSource {
  /** The bundle: a tar.gz file or a directory. */
  readonly path: string;
  /** A data.json whose `kubiya.settings` are laid over the bundle's (src/policy/overlay.ts), if any. */
  readonly dataPath: string | undefined;
  /** Keys one of which must have signed the bundle; empty: unsigned bundles are accepted. */
  readonly verificationKeys: readonly KeyObject[];
}

/** A canary the candidate must answer with a well-formed decision before it may replace the current one. */
const CANARY = {
  runner: 'canary',
  workflow: { id: 'canary', name: 'canary', runId: 'canary', volumes: [] },
  step: { name: 'canary', image: 'canary.invalid/canary:1' },
  pod: { spec: { containers: [{ name: 'step', image: 'canary.invalid/canary:1' }] } },
};

/** Throws (the schema's code first) when `data`'s settings fail the core schema plus `fragments`. */
function settingsOrThrow(data: unknown, fragments: Readonly<Record<string, unknown>>, source: string): void {
  const checked = checkPolicyData(data, fragments);
  if (!checked.ok) throw new Error(`${checked.error.code}: ${source}: ${checked.error.message}`);
}

/** `value` with every nested object frozen (in place). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The canary's result is a decision: `[{ result: { allow: boolean, violations: [] } }]`. */
function wellFormed(result: unknown): boolean {
  const first: unknown = Array.isArray(result) ? result[0] : undefined;
  const doc = typeof first === 'object' && first !== null && 'result' in first ? first.result : undefined;
  return (
    typeof doc === 'object' &&
    doc !== null &&
    'allow' in doc &&
    typeof doc.allow === 'boolean' &&
    'violations' in doc &&
    Array.isArray(doc.violations)
  );
}

/**
 * Loads and checks a candidate: the settings it would decide with (the bundle's data, with the
 * data file's settings laid over them) must pass the settings schema — the core schema plus the
 * fragments the bundle carries — or the candidate is refused (POLICY_SETTINGS_INVALID in the
 * message: STARTUP_FAILED at start, POLICY_RELOAD_REJECTED on reload).
 */
export async function loadCandidate(source: CandidateSource): Promise<Candidate> {
  const { path, dataPath, verificationKeys } = source;
  const files = await readBundleFiles(path);
  // The signature first: nothing of an unverified bundle is parsed or run.
  let keyid: string | undefined;
  if (verificationKeys.length > 0) {
    const verified = await verifyBundleFiles(files, verificationKeys);
    if (!verified.ok) throw new Error(`${verified.error.code}: ${verified.error.message}`);
    keyid = keyId(verified.value.key);
  }
  const bundle = bundleOf(files, path);
  const fragments = fragmentsOf(bundle.settingsSchema);
  const overlay = dataPath === undefined ? undefined : await readOverlay(dataPath, verificationKeys);
  let engine: PolicyEngine;
  let settings: unknown = settingsOf(bundle.data);
  if (overlay === undefined) {
    settingsOrThrow(bundle.data, fragments, `bundle ${bundle.revision}`);
    engine = await loadEngine(bundle);
  } else {
    const data = effectiveData(bundle.data, overlay.doc);
    settingsOrThrow(data, fragments, `${dataPath} over bundle ${bundle.revision}`);
    settings = settingsOf(data);
    // The revision names both: the same bundle with other settings decides differently.
    const revision = overlayRevision(bundle.revision, overlay.text);
    engine = await loadEngine({ ...bundle, data, revision });
  }
  if (!engine.entrypoints.includes(DECISION_ENTRYPOINT))
    throw new Error(`bundle ${engine.revision} has no entrypoint ${DECISION_ENTRYPOINT}`);
  // The canary and every fixture input policy build evaluated, again, with the settings this
  // runner decides with; and the Rego the bundle carries, scanned for what the WASM host lacks.
  const fixtures = [{ name: 'canary', input: CANARY as never }, ...bundleFixtures(bundle.fixtures)];
  const problems = candidateProblems(engine, fixtures, bundle.sources ?? []);
  if (problems.length > 0)
    throw new Error(`bundle ${engine.revision}: the compiled WASM cannot decide:\n  ${problems.join('\n  ')}`);
  if (!wellFormed(engine.evaluate(CANARY, DECISION_ENTRYPOINT)))
    throw new Error(`bundle ${engine.revision} does not return a well-formed decision`);
  // Which key verified it: named in every evaluate and mutate record and in /ready (PolicyEngine.keyid).
  return {
    engine: keyid === undefined ? engine : { ...engine, keyid },
    settings: deepFreeze(structuredClone(settings)),
  };
}

/**
 * The settings file's document, or undefined when nothing is to be laid over the bundle. With
 * verification keys only the empty overlay is accepted, and it changes nothing (the bundle's
 * own revision): POLICY_SETTINGS_UNSIGNED otherwise (src/policy/overlay.ts unsignedOverlayProblem).
 */
async function readOverlay(
  dataPath: string,
  verificationKeys: readonly KeyObject[],
): Promise<{ doc: unknown; text: string } | undefined> {
  const text = await readOperatorText(dataPath, OPERATOR_FILE_MAX_BYTES.policy);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new PolicyCandidateError('POLICY_SETTINGS_INVALID', `${dataPath} is not JSON`);
  }
  if (verificationKeys.length > 0) {
    const problem = unsignedOverlayProblem(doc, dataPath);
    if (problem !== undefined) throw new PolicyCandidateError(problem.code, problem.message);
    return undefined;
  }
  const settings = settingsOf(doc);
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    throw new PolicyCandidateError('POLICY_SETTINGS_INVALID', `${dataPath} has no kubiya.settings object`);
  return { doc, text };
}
