// The record `dev cluster up` keeps in <dir>/state.json for `down` and for the next `up`: written
// before the first process starts and again after each one (atomically: temp file + rename), and
// read back only through a schema, since whatever it names gets signalled and removed.
import { linkSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative } from 'node:path';
import { z } from 'zod';
import type { RealNodeState } from './node/state.ts';
import { signallable, startTicksOf } from './processes.ts';

/** The record's file name in the cluster's directory. */
export const STATE_FILE = 'state.json';
/** Written first into a directory `up` creates: only a directory holding it (or a record) is ever removed. */
export const MARKER_FILE = '.kubiya-dev-cluster';

/** A failure about the record or the directory, with the code the CLI reports. */
export class ClusterStateError extends Error {
  readonly code: 'CLUSTER_STATE_INVALID' | 'CLUSTER_DIR_NOT_OURS';
  constructor(code: 'CLUSTER_STATE_INVALID' | 'CLUSTER_DIR_NOT_OURS', message: string) {
    super(message);
    this.code = code;
  }
}

const absoluteDir = z.string().refine((d) => isAbsolute(d) && normalize(d) === d && d !== '/' && !d.endsWith('/'), {
  message: 'must be an absolute, normalised directory other than /',
});
const pid = z.number().refine(signallable, { message: 'must be a PID above 1, not this process or its parent' });
const ticks = z.string().regex(/^\d+$/);
const proc = z.object({ name: z.string().min(1), pid, startTicks: ticks.optional() });

const realNode = z.looseObject({
  dir: absoluteDir,
  kubeconfig: z.string(),
  pids: z.array(z.object({ name: z.string().min(1), pid })),
  owner: z.object({ pid, startTicks: ticks }).optional(),
});

const upState = z.object({
  dir: absoluteDir,
  /** 'starting' from the first write until `up` has everything running; absent in records written before it was kept. */
  phase: z.enum(['starting', 'up']).default('up'),
  /** The `up` process, while it starts the control plane. */
  owner: z.object({ pid, startTicks: ticks }).optional(),
  kubeconfig: z.string().optional(),
  server: z.string().optional(),
  workflowsNamespace: z.string().optional(),
  runnerNamespace: z.string().optional(),
  pids: z.array(proc),
  startedMs: z.number().optional(),
  realNode: realNode.optional(),
});

/** A parsed record; `realNode` is the node's own state (src/dev/node/state.ts), checked for what `down` acts on. */
export type UpState = Readonly<Omit<z.output<typeof upState>, 'realNode' | 'pids'>> & {
  readonly pids: readonly { readonly name: string; readonly pid: number; readonly startTicks?: string }[];
  readonly realNode?: RealNodeState;
};

/** Whether `path` is `dir` itself or lies under it (both absolute and normalised). */
function within(dir: string, path: string): boolean {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * The record in `dir` (absolute, normalised), or undefined when there is none. Throws a
 * ClusterStateError CLUSTER_STATE_INVALID, naming the file, when it exists but cannot be read, is not
 * JSON, does not match the schema (PIDs integers above 1 and not this process or its parent, directories
 * absolute), names another directory than `dir`, or a real node outside it: such a file is never taken
 * for "nothing there", and nothing it names is signalled or removed.
 */
export async function readClusterState(dir: string): Promise<UpState | undefined> {
  const file = join(dir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalid(file, (e as Error).message);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw invalid(file, `not JSON (${(e as Error).message}; a write cut short?)`);
  }
  const parsed = upState.safeParse(json);
  if (!parsed.success)
    throw invalid(file, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  const state = parsed.data;
  if (state.dir !== dir) throw invalid(file, `it is the record of ${state.dir}, not of ${dir}`);
  if (state.realNode !== undefined && !within(dir, state.realNode.dir))
    throw invalid(file, `its real node directory ${state.realNode.dir} is outside ${dir}`);
  return state as UpState;
}

function invalid(file: string, why: string): ClusterStateError {
  return new ClusterStateError(
    'CLUSTER_STATE_INVALID',
    `${file} is not a usable record of a local control plane: ${why}. Nothing was signalled or removed: ` +
      `stop any process it names by hand (ps -ef | grep <dir>), then remove the file.`,
  );
}

/** Whether the `up` that wrote a 'starting' record still runs (its PID with the same start ticks). */
export function ownerRuns(state: UpState): boolean {
  return state.owner !== undefined && startTicksOf(state.owner.pid) === state.owner.startTicks;
}

/**
 * Replaces the record atomically (temp file in the same directory, then rename): a reader sees the
 * old record or the new one, never a part. Synchronous, so it can run right after a spawn.
 */
export function writeClusterState(state: UpState): void {
  const file = join(state.dir, STATE_FILE);
  const tmp = `${file}.${String(process.pid)}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, file);
}

/**
 * Makes `dir` ready for a new control plane and claims it: the directory is created when absent;
 * an existing one is emptied only when it is empty or ours (it holds MARKER_FILE or a record:
 * `recorded`), otherwise a ClusterStateError CLUSTER_DIR_NOT_OURS names it and nothing is removed.
 * Then the marker and the first record (`first`, no process yet) are written; the record is created
 * exclusively (link), so of two `up`s on one directory only one goes on.
 */
export function claimClusterDir(first: UpState, recorded: boolean, clear: (dir: string) => void): void {
  const dir = first.dir;
  const entries = listDir(dir);
  if (entries !== undefined && entries.length > 0) {
    if (!recorded && !entries.includes(MARKER_FILE))
      throw new ClusterStateError(
        'CLUSTER_DIR_NOT_OURS',
        `${dir} is not empty and not a local control plane's directory (no ${MARKER_FILE}, no ${STATE_FILE}; it holds ` +
          `${entries.slice(0, 5).join(', ')}${entries.length > 5 ? ', ...' : ''}); nothing was removed. ` +
          `Give --dir a new or empty directory.`,
      );
    clear(dir);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER_FILE), 'a local control plane of kubiya-runner dev cluster up\n');
  const file = join(dir, STATE_FILE);
  const tmp = `${file}.${String(process.pid)}.tmp`;
  writeFileSync(tmp, JSON.stringify(first, null, 2));
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    throw new ClusterStateError('CLUSTER_STATE_INVALID', `${file} appeared while starting: another "up" on ${dir}?`);
  } finally {
    unlinkSync(tmp);
  }
}

/** The names in `dir`; undefined when it does not exist. Throws CLUSTER_DIR_NOT_OURS for a non-directory. */
function listDir(dir: string): string[] | undefined {
  try {
    if (!statSync(dir).isDirectory())
      throw new ClusterStateError('CLUSTER_DIR_NOT_OURS', `${dir} exists and is not a directory; nothing was removed.`);
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Whether `dir` is one `up` made (holds the marker) — `down` removes only such a directory or a recorded one. */
export function markedAsOurs(dir: string): boolean {
  return listDir(dir)?.includes(MARKER_FILE) === true;
}
