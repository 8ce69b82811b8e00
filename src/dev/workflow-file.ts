import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from '../adapters/operator-file.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/** Reads a workflow YAML (as in examples/) and gives it a fresh runId when it has none. */
export async function readWorkflowFile(path: string): Promise<{ id: string } & Record<string, unknown>> {
  const text = await readOperatorText(path, OPERATOR_FILE_MAX_BYTES.config);
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 0 });
  } catch (e) {
    // eslint-disable-next-line preserve-caught-error -- the parser's error quotes the file's bytes
    throw new Error(`${path}: ${parseProblem(e)}`);
  }
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
