import { createHash } from 'node:crypto';

const MAX_NAME = 63;

/**
 * DNS-safe object name: lower-cased, runs of other characters become "-", trimmed; when longer
 * than 63 characters it is truncated and suffixed with a short hash of the full name so that two
 * long names never collide by truncation.
 */
export function dnsSafeName(raw: string, max = MAX_NAME): string {
  const cleaned = raw.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '');
  if (cleaned.length > 0 && cleaned.length <= max) return cleaned;
  const base = cleaned.length > 0 ? cleaned : 'x';
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  const head = base.slice(0, max - hash.length - 1).replace(/-+$/, '');
  return `${head}-${hash}`;
}

/** The seed's pod name: workflow-<id>-step-<name>, made DNS-safe. */
export function podName(workflowId: string, stepName: string): string {
  return dnsSafeName(`workflow-${workflowId}-step-${stepName}`);
}

export const LABELS = Object.freeze({
  workflow: 'kubiya.ai/workflow',
  step: 'kubiya.ai/step',
  runner: 'kubiya.ai/runner',
  run: 'kubiya.ai/run',
});
