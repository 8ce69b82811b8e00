import { fail, ok, type Result } from '../errors/result.ts';
import { parseImageRef } from '../oci/image-ref.ts';
import { conditionIssues, referenceIssues } from './condition-check.ts';
import { depthIssue } from './depth.ts';
import { findCycle } from './graph.ts';
import { prototypeKeyIssues } from './prototype-keys.ts';
import { workflowSchema, type Workflow } from './schema.ts';
import { printable, textIssues } from './unicode.ts';

export interface SchemaIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * Every image of every container (main, sidecars, init containers) that is not a valid reference
 * by the distribution grammar (src/oci/image-ref.ts, the same grammar the policy parses with): an
 * upper-case repository component, an empty or ".." component, a malformed digest, an over-long
 * tag... would only fail later at the kubelet. The message is the parser's reason, never the text.
 */
function imageIssues(workflow: Workflow): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const check = (image: string, path: string): void => {
    const parsed = parseImageRef(image);
    if (!parsed.ok) issues.push({ path, message: parsed.reason });
  };
  workflow.steps.forEach((step, i) => {
    check(step.image, `workflow.steps.${i}.image`);
    (step.sidecars ?? []).forEach((c, j) => check(c.image, `workflow.steps.${i}.sidecars.${j}.image`));
    (step.initContainers ?? []).forEach((c, j) => check(c.image, `workflow.steps.${i}.initContainers.${j}.image`));
  });
  return issues;
}

/**
 * validate: the verified `workflow` claim → a typed, bounded Workflow, or every issue with its path.
 * First its depth (VALIDATE_SCHEMA: nested more than MAX_CLAIM_DEPTH levels, found without
 * recursion, src/validate/depth.ts), so that no walk after it can overflow the stack; then the text itself (VALIDATE_UNICODE: ill-formed Unicode or NUL anywhere, control/bidi
 * characters in display names), so that nothing after this point — schema messages, audit records,
 * the WorkflowRun — ever holds a string that cannot be encoded; then a `__proto__` key anywhere
 * (VALIDATE_SCHEMA: readers drop it, prototype-keys.ts); then the schema (VALIDATE_SCHEMA);
 * then every image reference (VALIDATE_IMAGE_REFERENCE), so an invalid one never becomes a
 * WorkflowRun. Issue paths and messages never repeat an ill-formed string (keys in paths are escaped).
 */
export function validate(claim: unknown): Result<Workflow> {
  const deep = depthIssue(claim, 'workflow');
  if (deep !== undefined)
    return fail('VALIDATE_SCHEMA', `workflow claim is invalid: 1 issue(s), first at ${deep.path}: ${deep.message}`, {
      issues: [deep],
    });
  const text = textIssues(claim);
  if (text.length > 0) {
    return fail(
      'VALIDATE_UNICODE',
      `workflow claim holds text that cannot be stored faithfully: ${text.length} issue(s), first at ${text[0]?.path ?? 'workflow'}: ${text[0]?.message ?? ''}`,
      { issues: text },
    );
  }
  const dropped = prototypeKeyIssues(claim, 'workflow').map((i) => ({ path: printable(i.path), message: i.message }));
  if (dropped.length > 0)
    return fail(
      'VALIDATE_SCHEMA',
      `workflow claim is invalid: ${dropped.length} issue(s), first at ${dropped[0]?.path ?? 'workflow'}: ${dropped[0]?.message ?? ''}`,
      { issues: dropped },
    );
  const parsed = workflowSchema.safeParse(claim);
  if (parsed.success) return checked(parsed.data);
  const issues: SchemaIssue[] = parsed.error.issues.slice(0, 50).map((i) => ({
    path: ['workflow', ...i.path].map((p) => printable(String(p))).join('.'),
    message: printable(i.message),
  }));
  return fail(
    'VALIDATE_SCHEMA',
    `workflow claim is invalid: ${issues.length} issue(s), first at ${issues[0]?.path ?? 'workflow'}: ${issues[0]?.message ?? ''}`,
    { issues },
  );
}

/** The checks that need the whole (schema-valid) workflow: the step graph, then conditions, then images. */
function checked(workflow: Workflow): Result<Workflow> {
  const cycle = findCycle(workflow);
  if (cycle !== undefined) {
    const issues: SchemaIssue[] = [
      { path: 'workflow.steps.dependsOn', message: `dependsOn cycle: ${cycle.join(' → ')}` },
    ];
    return fail('VALIDATE_SCHEMA', `workflow claim is invalid: dependsOn cycle: ${cycle.join(' → ')}`, { issues });
  }
  const conditions = [...conditionIssues(workflow), ...referenceIssues(workflow)].slice(0, 50);
  if (conditions.length > 0)
    return fail(
      'VALIDATE_SCHEMA',
      `workflow claim is invalid: ${conditions.length} issue(s), first at ${conditions[0]?.path ?? 'workflow'}: ${conditions[0]?.message ?? ''}`,
      { issues: conditions.map((c) => ({ path: c.path, message: printable(c.message) })) },
    );
  const images = imageIssues(workflow);
  if (images.length === 0) return ok(workflow);
  return fail(
    'VALIDATE_IMAGE_REFERENCE',
    `workflow claim names an invalid image reference: ${images.length} issue(s), first at ${images[0]?.path ?? 'workflow'}: ${images[0]?.message ?? ''}`,
    { issues: images },
  );
}
