// Staging: the commit's own files (git archive of HEAD, never the working tree, so untracked or
// edited files cannot leak into the image), its production dependencies installed from the
// lockfile into the staging directory (never into the checkout's node_modules), and the default
// policy bundle built from the commit's policies/ the way `kubiya-runner policy build` builds it.
import { execFile, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { extract } from 'tar';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { resolveTools } from '../../src/adapters/tools.ts';

const run = promisify(execFile);

/** What the image takes from the commit: the sources, the entry point, the manifests, the policies. */
export const APP_PATHS = ['bin', 'src', 'package.json', 'package-lock.json'] as const;
const POLICY_DIR = 'policies';

/** The commit an image is built from: its hash, its time (seconds), and whether the tree differs. */
export interface Commit {
  revision: string;
  epoch: number;
  dirty: boolean;
}

/**
 * SOURCE_DATE_EPOCH as whole seconds (reproducible-builds.org spec: a decimal integer; a malformed
 * value fails the build rather than silently stamping another time). Unset or empty: undefined.
 */
export function parseSourceDateEpoch(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^[0-9]{1,11}$/.test(text))
    throw new Error(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** HEAD of the repository at `repo`; SOURCE_DATE_EPOCH (when given) replaces the commit time. */
export async function headCommit(repo: string, sourceDateEpoch: string | undefined): Promise<Commit> {
  const git = async (...args: string[]): Promise<string> => (await run('git', ['-C', repo, ...args])).stdout.trim();
  const revision = await git('rev-parse', 'HEAD');
  const epoch = parseSourceDateEpoch(sourceDateEpoch) ?? Number(await git('log', '-1', '--format=%ct'));
  const status = await git('status', '--porcelain', '--', ...APP_PATHS, POLICY_DIR);
  return { revision, epoch, dirty: status !== '' };
}

/** Extracts `paths` of `revision` (git archive) into `dir`. */
async function exportTree(repo: string, revision: string, paths: readonly string[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const git = spawn('git', ['-C', repo, 'archive', '--format=tar', revision, '--', ...paths], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => git.on('close', resolve));
  await pipeline(git.stdout, extract({ cwd: dir }));
  const code = await exited;
  if (code !== 0) throw new Error(`git archive exited with ${code}`);
}

/** `npm ci --omit=dev --ignore-scripts` in `dir` with the Node that runs this build first on PATH. */
async function installProduction(dir: string, log: (line: string) => void): Promise<void> {
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  const args = ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];
  log(`npm ${args.join(' ')} (in ${dir})`);
  const { stderr } = await run('npm', args, { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 });
  if (stderr.trim() !== '') log(stderr.trim());
}

/** The staged parts of an image: the app directory (sources + node_modules) and the policy bundle. */
export interface Staged {
  app: string;
  bundle: string;
  bundleRevision: string;
}

/** Stages the commit's app and its default policy bundle under `work` (which must be empty or absent). */
export async function stage(repo: string, commit: Commit, work: string, log: (line: string) => void): Promise<Staged> {
  const app = join(work, 'app');
  await exportTree(repo, commit.revision, APP_PATHS, app);
  await installProduction(app, log);
  const policies = join(work, 'policy-src');
  await exportTree(repo, commit.revision, [POLICY_DIR], policies);
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  const built = await buildBundle(tools.value.opa, join(policies, POLICY_DIR), join(work, 'bundle.tar.gz'));
  log(`policy bundle ${built.revision}`);
  return { app, bundle: built.file, bundleRevision: built.revision };
}
