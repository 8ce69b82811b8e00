import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

/** Reads a workflow YAML (as in examples/) and gives it a fresh runId when it has none. */
export async function readWorkflowFile(path: string): Promise<{ id: string } & Record<string, unknown>> {
  const doc: unknown = parse(await readFile(path, 'utf8'), { maxAliasCount: 0 });
  if (
    typeof doc !== 'object' ||
    doc === null ||
    Array.isArray(doc) ||
    typeof (doc as { id?: unknown }).id !== 'string'
  ) {
    throw new Error(`${path}: a workflow file must be a mapping with an "id"`);
  }
  const wf = doc as { id: string } & Record<string, unknown>;
  return { ...wf, runId: typeof wf.runId === 'string' ? wf.runId : `run-${randomBytes(4).toString('hex')}` };
}
