import { fail, ok, type Result } from '../errors/result.ts';
import { findCycle } from '../reconcile/graph.ts';
import { workflowSchema, type Workflow } from './schema.ts';
import { printable, textIssues } from './unicode.ts';

export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * validate: the verified `workflow` claim → a typed, bounded Workflow, or every issue with its path.
 * First the text itself (VALIDATE_UNICODE: ill-formed Unicode or NUL anywhere, control/bidi
 * characters in display names), so that nothing after this point — schema messages, audit records,
 * the WorkflowRun — ever holds a string that cannot be encoded; then the schema (VALIDATE_SCHEMA).
 * Issue paths and messages never repeat an ill-formed string (keys in paths are escaped).
 */
export function validate(claim: unknown): Result<Workflow> {
  const text = textIssues(claim);
  if (text.length > 0) {
    return fail('VALIDATE_UNICODE', `workflow claim holds text that cannot be stored faithfully: ${text.length} issue(s), first at ${text[0]?.path ?? 'workflow'}: ${text[0]?.message ?? ''}`, { issues: text });
  }
  const parsed = workflowSchema.safeParse(claim);
  if (parsed.success) {
    const cycle = findCycle(parsed.data);
    if (cycle === undefined) return ok(parsed.data);
    const issues: SchemaIssue[] = [{ path: 'workflow.steps.dependsOn', message: `dependsOn cycle: ${cycle.join(' → ')}` }];
    return fail('VALIDATE_SCHEMA', `workflow claim is invalid: dependsOn cycle: ${cycle.join(' → ')}`, { issues });
  }
  const issues: SchemaIssue[] = parsed.error.issues.slice(0, 50).map((i) => ({
    path: ['workflow', ...i.path].map((p) => printable(String(p))).join('.'),
    message: printable(i.message),
  }));
  return fail('VALIDATE_SCHEMA', `workflow claim is invalid: ${issues.length} issue(s), first at ${issues[0]?.path ?? 'workflow'}: ${issues[0]?.message ?? ''}`, { issues });
}
