import { fail, ok, type Result } from '../errors/result.ts';
import { findCycle } from '../reconcile/graph.ts';
import { workflowSchema, type Workflow } from './schema.ts';

export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/** validate: the verified `workflow` claim → a typed, bounded Workflow, or every issue with its path. */
export function validate(claim: unknown): Result<Workflow> {
  const parsed = workflowSchema.safeParse(claim);
  if (parsed.success) {
    const cycle = findCycle(parsed.data);
    if (cycle === undefined) return ok(parsed.data);
    const issues: SchemaIssue[] = [{ path: 'workflow.steps.dependsOn', message: `dependsOn cycle: ${cycle.join(' → ')}` }];
    return fail('VALIDATE_SCHEMA', `workflow claim is invalid: dependsOn cycle: ${cycle.join(' → ')}`, { issues });
  }
  const issues: SchemaIssue[] = parsed.error.issues.slice(0, 50).map((i) => ({
    path: ['workflow', ...i.path].map(String).join('.'),
    message: i.message,
  }));
  return fail('VALIDATE_SCHEMA', `workflow claim is invalid: ${issues.length} issue(s), first at ${issues[0]?.path ?? 'workflow'}: ${issues[0]?.message ?? ''}`, { issues });
}
