import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.ts';

/**
 * What the real node may change on the host, read before `up` and compared after `down`: every
 * readable sysctl (minus counters that move by themselves), the mount points, the network links,
 * the iptables/ip6tables rules (counters stripped), the nftables tables, the ipsets, the kubelet's
 * cgroups and the directories it writes outside its own.
 */
export interface HostState {
  readonly sysctls: Readonly<Record<string, string>>;
  readonly mounts: readonly string[];
  readonly links: readonly string[];
  readonly iptables: Readonly<Record<'ip' | 'ip6', string>>;
  readonly nftTables: readonly string[];
  readonly ipsets: readonly string[];
  readonly cgroups: readonly string[];
  readonly paths: readonly string[];
}

/** Sysctls that change on their own (counters, random values) and are never compared nor restored. */
export const VOLATILE_SYSCTLS: readonly RegExp[] = [
  /^fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr)$/,
  /^fs\.quota\./,
  /^kernel\.(ns_last_pid|tainted)$/,
  /^kernel\.random\./,
  /^kernel\.pty\.nr$/,
  /^net\.netfilter\.nf_conntrack_count$/,
];

/** Directories the kubelet, containerd and the CNI plugins write outside the node's own directory. */
export const OUTSIDE_PATHS: readonly string[] = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd',
  '/run/netns',
  '/var/lib/cni',
  '/run/nri',
];

function readSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        if (statSync(path).isDirectory()) walk(path);
        else out[path.slice('/proc/sys/'.length).replaceAll('/', '.')] = readFileSync(path, 'utf8');
      } catch {
        // write-only or vanished: not part of the state
      }
    }
  };
  walk('/proc/sys');
  for (const key of Object.keys(out)) if (VOLATILE_SYSCTLS.some((r) => r.test(key))) delete out[key];
  return out;
}

/** Mount points as "target fstype source" lines (mount IDs left out: they differ between boots of the same state). */
function readMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [left = '', right = ''] = line.split(' - ');
      const target = left.split(' ')[4] ?? '';
      const [fstype = '', source = ''] = right.split(' ');
      return `${target} ${fstype} ${source}`;
    })
    .sort();
}

/** iptables-save output without comments, counters and table headers' timestamps. */
export function normaliseIptables(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
    .join('\n');
}

async function lines(cmd: string, args: string[]): Promise<string[]> {
  try {
    const r = await run(cmd, args);
    return r.stdout
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .sort();
  } catch {
    return [];
  }
}

/** The kubelet's cgroups (`kubepods` under each cgroup v1 controller, or under the unified hierarchy). */
export function kubeletCgroups(): string[] {
  const root = '/sys/fs/cgroup';
  const found: string[] = [];
  const candidates = existsSync(join(root, 'cgroup.controllers'))
    ? [root]
    : readdirSync(root).map((c) => join(root, c));
  for (const dir of candidates)
    for (const name of ['kubepods', 'kubepods.slice']) if (existsSync(join(dir, name))) found.push(join(dir, name));
  return found.sort();
}

/** Reads the host state (root needed for iptables, nft and ipset; without it those parts read as empty). */
export async function readHostState(): Promise<HostState> {
  const links = (await lines('ip', ['-o', 'link', 'show'])).map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '');
  return {
    sysctls: readSysctls(),
    mounts: readMounts(),
    links: links.sort(),
    iptables: {
      ip: normaliseIptables((await run('iptables-save', []).catch(() => ({ stdout: '' }))).stdout),
      ip6: normaliseIptables((await run('ip6tables-save', []).catch(() => ({ stdout: '' }))).stdout),
    },
    nftTables: await lines('nft', ['list', 'tables']),
    ipsets: await lines('ipset', ['list', '-n']),
    cgroups: kubeletCgroups(),
    paths: OUTSIDE_PATHS.filter((p) => existsSync(p)),
  };
}

/**
 * What the real node itself changed on the host, recorded in its lock at each step of `up`: each
 * sysctl it set, with the value it set (read after the step), and the directories outside its own
 * that it created. An unattended clear of a left node undoes only these, and only where they still
 * hold what the node left (red-team round 5, finding 8: a restore from an old snapshot wrote back
 * sysctls another actor had changed since, and removed directories another runtime had created).
 */
export interface AppliedChanges {
  readonly sysctls: Readonly<Record<string, string>>;
  readonly paths: readonly string[];
}

/**
 * The changes of the node from `before` to `now`: the sysctls that differ (their value now), and
 * the outside directories that appeared, kept from `earlier` too (a directory the node created
 * stays its own).
 */
export function appliedChanges(before: HostState, now: HostState, earlier?: AppliedChanges): AppliedChanges {
  const sysctls: Record<string, string> = {};
  for (const [key, value] of Object.entries(before.sysctls)) {
    const current = now.sysctls[key];
    if (current !== undefined && current !== value) sysctls[key] = current;
  }
  const created = now.paths.filter((p) => !before.paths.includes(p));
  return { sysctls, paths: [...new Set([...(earlier?.paths ?? []), ...created])].sort() };
}

/** One difference between two host states, in words ("sysctl kernel.panic: 1 -> 10"). */
export function diffHostState(before: HostState, after: HostState): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(before.sysctls)) {
    const now = after.sysctls[k];
    if (now !== undefined && now !== v) out.push(`sysctl ${k}: ${v.trim()} -> ${now.trim()}`);
  }
  const sets = (what: string, a: readonly string[], b: readonly string[]): void => {
    for (const x of b) if (!a.includes(x)) out.push(`${what} added: ${x}`);
    for (const x of a) if (!b.includes(x)) out.push(`${what} removed: ${x}`);
  };
  sets('mount', before.mounts, after.mounts);
  sets('link', before.links, after.links);
  for (const family of ['ip', 'ip6'] as const)
    sets(`${family}tables`, before.iptables[family].split('\n'), after.iptables[family].split('\n'));
  sets('nft table', before.nftTables, after.nftTables);
  sets('ipset', before.ipsets, after.ipsets);
  sets('cgroup', before.cgroups, after.cgroups);
  sets('path', before.paths, after.paths);
  return out;
}
