import { readWorkflowFile } from '../dev/workflow-file.ts';
import { CliError } from './io.ts';

/**
 * A workflow YAML named on the command line (src/dev/workflow-file.ts), with a fresh runId when it
 * has none. Throws CliError VALIDATE_SCHEMA (exit 2) when it cannot be read or is not a mapping
 * with an "id".
 */
export async function readWorkflowArg(path: string): Promise<{ id: string } & Record<string, unknown>> {
  try {
    return await readWorkflowFile(path);
  } catch (e) {
    throw new CliError('VALIDATE_SCHEMA', e instanceof Error ? e.message : String(e));
  }
}
